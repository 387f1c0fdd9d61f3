#!/usr/bin/env python3
"""Known-answer vectors for flud's Reed-Solomon code, computed independently of
flud and ISA-L: plain GF(2^8) arithmetic (polynomial x^8+x^4+x^3+x^2+1, 0x11D)
and the systematic Cauchy matrix whose parity row i (k <= i < k+m) has
coefficients 1 / (i XOR j) for data column j.

Run from this folder to regenerate rs-cauchy.json (the output is deterministic).
"""
import json
import random

EXP = [0] * 512
LOG = [0] * 256
x = 1
for power in range(255):
    EXP[power] = x
    LOG[x] = power
    x <<= 1
    if x & 0x100:
        x ^= 0x11D
for power in range(255, 512):
    EXP[power] = EXP[power - 255]


def mul(a, b):
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def inverse(a):
    return EXP[255 - LOG[a]]


def parity(k, m, data):
    length = len(data[0])
    shards = []
    for i in range(k, k + m):
        row = [inverse(i ^ j) for j in range(k)]
        out = bytearray(length)
        for j in range(k):
            coefficient = row[j]
            for b in range(length):
                out[b] ^= mul(coefficient, data[j][b])
        shards.append(bytes(out))
    return shards


def main():
    rng = random.Random(20071)  # fixed seed: the file must not change between runs
    cases = []
    for k, m, length in [(1, 1, 7), (2, 1, 16), (4, 2, 64), (4, 2, 65), (10, 4, 100),
                         (20, 20, 33), (3, 5, 1), (17, 3, 130), (200, 55, 5), (1, 254, 3)]:
        data = [bytes(rng.randrange(256) for _ in range(length)) for _ in range(k)]
        cases.append({
            "k": k, "m": m,
            "data": [d.hex() for d in data],
            "parity": [p.hex() for p in parity(k, m, data)],
        })
    with open("rs-cauchy.json", "w") as out:
        json.dump({"field_polynomial": "0x11D", "matrix": "systematic Cauchy, parity[i][j] = 1/(i^j)",
                   "cases": cases}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
