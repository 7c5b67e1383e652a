"""Analysis and active governance (Art. 22-25): what the trail of every ticket says about the units
that handled it, which problems recur, which are rising, and what the coming weeks will bring.

Pure rules over plain values: the store (gateway/store/analysis.py) feeds them, the console shows them.
"""
