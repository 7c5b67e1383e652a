"""How well photographed text is read (issue 18): character and field accuracy, emergencies found, speed.

The texts (tests/data/ocr_texts.jsonl) were written by a helper session from a brief naming only the kinds of
things citizens photograph; this script renders each as an image the way it would reach us — notices in a
sans-serif, handwritten requests in a brush (Kai) face, bills on tinted paper, signs, forms — and degrades a
second copy as a phone photo would (rotation, blur, sensor noise, low light, JPEG compression). Both engines
read the same images: the shipped PP-OCRv4 (rapidocr-onnxruntime) and Debian's Tesseract 5 `chi_sim`.

    python benchmarks/ocr_eval.py [--engines rapid,tesseract] [--save DIR] [--videos 4]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from channels.reading.reader import ReadingLimits, read_file  # noqa: E402
from nlu.triage import Triager  # noqa: E402
from gateway.settings import load_settings  # noqa: E402

FONTS = {
    "sans": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "bold": "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "kai": "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "ming": "/usr/share/fonts/truetype/arphic/uming.ttc",
    "hei": "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
}
FONT_FOR_KIND = {"notice": ["sans", "bold", "hei"], "bill": ["ming", "sans"], "sign": ["bold", "hei"],
                 "handwritten": ["kai"], "form": ["ming", "sans"], "danger": ["kai", "bold"],
                 "personal": ["hei", "ming"], "other": ["sans", "kai"]}
PAPER = {"bill": (232, 240, 250), "form": (250, 244, 230), "sign": (255, 250, 235)}


def render(item: dict, rng: random.Random, degraded: bool) -> bytes:
    face = rng.choice(FONT_FOR_KIND.get(item["kind"], ["sans"]))
    size = rng.choice([26, 30, 34, 40])
    font = ImageFont.truetype(FONTS[face], size)
    lines = item["lines"]
    width = int(max(font.getlength(line) for line in lines)) + 2 * size
    height = int((len(lines) + 1) * size * 1.7)
    img = Image.new("RGB", (width, height), PAPER.get(item["kind"], (255, 255, 255)))
    draw = ImageDraw.Draw(img)
    ink = (20, 20, 20) if item["kind"] != "sign" else (160, 20, 20)
    for i, line in enumerate(lines):
        jitter = rng.randint(-3, 3) if item["kind"] == "handwritten" else 0
        draw.text((size + jitter, int(size * 0.7 + i * size * 1.7)), line, font=font, fill=ink)
    if degraded:
        img = img.rotate(rng.uniform(-7, 7), expand=True, fillcolor=(200, 200, 200), resample=Image.BICUBIC)
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.1)))
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.45, 0.8))   # low light
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.6, 0.9))
        noise = Image.effect_noise(img.size, rng.uniform(12, 28)).convert("RGB")
        img = Image.blend(img, noise, 0.12)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=rng.choice([45, 60, 75]) if degraded else 92)
    return out.getvalue()


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def tesseract_read(path: str) -> tuple[str, float]:
    import pytesseract
    started = time.monotonic()
    text = pytesseract.image_to_string(Image.open(path), lang="chi_sim", config="--psm 6")
    return text, time.monotonic() - started


def rapid_read(path: str) -> tuple[str, float]:
    reading = read_file(path, "image", ReadingLimits())
    return reading.text, reading.seconds


def score(items: list[dict], texts: list[str], triager: Triager) -> dict:
    chars = fields = fields_ok = 0
    errors = 0
    phones = phones_ok = dates = dates_ok = addrs = addrs_ok = 0
    emerg_tp = emerg_fn = emerg_fp = 0
    for item, hyp in zip(items, texts):
        ref = squash("".join(item["lines"]))
        got = squash(hyp)
        chars += len(ref)
        errors += min(len(ref), edit_distance(ref, got))
        digits = re.sub(r"\D", "", got)
        for p in item["phones"]:
            phones += 1
            phones_ok += p in digits
        for d in item["dates"]:
            dates += 1
            dates_ok += squash(d) in got
        for a in item["addresses"]:
            addrs += 1
            addrs_ok += squash(a) in got
        found = triager.analyze(hyp).emergency is not None if hyp.strip() else False
        emerg_tp += found and item["emergency"]
        emerg_fn += (not found) and item["emergency"]
        emerg_fp += found and not item["emergency"]
    fields = phones + dates + addrs
    fields_ok = phones_ok + dates_ok + addrs_ok
    return {"char_accuracy": 1 - errors / chars, "fields": fields_ok / fields, "phones": phones_ok / phones,
            "dates": dates_ok / dates, "addresses": addrs_ok / addrs,
            "emergencies_found": f"{emerg_tp}/{emerg_tp + emerg_fn}", "false_alarms": emerg_fp}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="rapid,tesseract")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--videos", type=int, default=4)
    args = parser.parse_args()
    items = [json.loads(line) for line in (ROOT / "tests/data/ocr_texts.jsonl").read_text().splitlines() if line]
    triager = Triager.from_settings(load_settings(ROOT / "config" / "hotline.toml", env={}))
    engines = {"rapid": rapid_read, "tesseract": tesseract_read}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.save or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sets: dict[str, list[str]] = {}
        for variant in ("clean", "photo"):
            rng = random.Random(18 if variant == "clean" else 81)
            paths = []
            for item in items:
                path = folder / f"{item['id']}-{variant}.jpg"
                path.write_bytes(render(item, rng, variant == "photo"))
                paths.append(str(path))
            sets[variant] = paths
        print(f"{len(items)} texts x 2 renderings ({sum(len(''.join(i['lines'])) for i in items)} characters each)")
        for name in args.engines.split(","):
            read = engines[name]
            read(sets["clean"][0])  # load the models / start the process once
            for variant, paths in sets.items():
                texts, seconds = [], []
                for path in paths:
                    text, took = read(path)
                    texts.append(text)
                    seconds.append(took)
                s = score(items, texts, triager)
                print(f"{name:9} {variant:5}  chars {s['char_accuracy']:.3f}  fields {s['fields']:.3f} "
                      f"(phones {s['phones']:.3f}, dates {s['dates']:.3f}, addresses {s['addresses']:.3f})  "
                      f"emergencies {s['emergencies_found']}, false alarms {s['false_alarms']}  "
                      f"s/image median {statistics.median(seconds):.2f} p95 "
                      f"{sorted(seconds)[int(0.95 * len(seconds)) - 1]:.2f}")
        if args.videos and "rapid" in args.engines:
            from tests.media_samples import text_video
            chosen = [i for i in items if i["kind"] in ("danger", "sign", "notice")][: args.videos]
            texts, seconds = [], []
            for item in chosen:
                path = folder / f"{item['id']}.mp4"
                path.write_bytes(text_video(item["lines"][:4], seconds=4.0))
                reading = read_file(str(path), "video", ReadingLimits())
                texts.append(reading.text)
                seconds.append(reading.seconds)
            short = [{**i, "lines": i["lines"][:4]} for i in chosen]
            s = score(short, texts, triager)
            print(f"rapid     video  chars {s['char_accuracy']:.3f} on {len(chosen)} clips of 4 s "
                  f"(3 frames each), s/clip median {statistics.median(seconds):.2f}, "
                  f"emergencies {s['emergencies_found']}")


if __name__ == "__main__":
    main()
