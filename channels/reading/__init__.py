"""Reading what citizens show: text in photos and video frames (OCR), the place in a photo's EXIF, a
video's duration, poster frame and sound track (issue 18).

Everything here is pure and runs in worker processes (`pool.ReadingPool`): decoding an image a stranger
sent is the riskiest thing the gateway does, so it happens where a time, memory and pixel limit can stop
it without stopping the gateway.
"""
