#!/usr/bin/env python3
"""Independent reference implementation of the Guild lottery draw "guild-lottery-v1".

Anyone can check a drawn lottery with it, without trusting Guild's own code:

    scripts/lottery-verify.py lottery.json        # or "-" to read standard input
    curl -s https://guild.example/api/v1/lotteries/ID | scripts/lottery-verify.py -

It reads the lottery as the gateway returns it (proto3 JSON, lowerCamelCase names, fields at
their default value omitted), recomputes the draw and prints "verified", or the problems and
exits with status 1.

It can also draw, to make test data:

    scripts/lottery-verify.py --draw SEED_HEX --prize Book:1 --prize Mug:2 alice bob carol

The algorithm (the same text as the doc comment of LotteryDraw in Shared/GuildCore):
- seed: 32 bytes; commitment = lowercase hex SHA-256(seed), published before entries close.
- entrants: deduplicated, sorted ascending by their UTF-8 bytes.
- stream: block i (i = 0, 1, ...) = HMAC-SHA256(key: seed, message: b"guild-lottery-v1" +
  i as 8-byte big-endian unsigned); each block is four 64-bit big-endian unsigned integers.
- uniform(n): next integer x, rejected while x >= 2**64 - (2**64 mod n); result x mod n.
- shuffle: for i from m-1 down to 1: j = uniform(i + 1); swap a[i], a[j].
- winners: prizes in order; prize k takes the next `count` entrants of the shuffled list
  (positions numbered from 1 across all prizes) until the entrants run out.
"""
import argparse
import hashlib
import hmac
import json
import struct
import sys

ALGORITHM = "guild-lottery-v1"


def canonical_entrants(entrants):
    """Deduplicated and sorted by UTF-8 bytes; the draw works on this list."""
    return [b.decode("utf-8") for b in sorted({e.encode("utf-8") for e in entrants})]


def stream(seed):
    """The draw's random integers: four big-endian 64-bit words per HMAC block."""
    i = 0
    while True:
        block = hmac.new(seed, ALGORITHM.encode("ascii") + struct.pack(">Q", i), hashlib.sha256).digest()
        yield from struct.unpack(">4Q", block)
        i += 1


def uniform(words, n):
    limit = 2**64 - (2**64 % n)
    while True:
        x = next(words)
        if x < limit:
            return x % n


def winners(seed, entrants, prizes):
    """[(prize name, prize index, position, user id)]; prizes is [(name, count)]."""
    a = canonical_entrants(entrants)
    words = stream(seed)
    for i in range(len(a) - 1, 0, -1):
        j = uniform(words, i + 1)
        a[i], a[j] = a[j], a[i]
    result, next_entrant = [], 0
    for k, (name, count) in enumerate(prizes):
        for _ in range(max(count, 0)):
            if next_entrant >= len(a):
                return result
            result.append((name, k, next_entrant + 1, a[next_entrant]))
            next_entrant += 1
    return result


def integer(value, what):
    """proto3 JSON writes integers as numbers, and 64-bit ones may come as strings."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{what} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{what} is not an integer: {value!r}")


def verify(lottery):
    """Prints a report; returns the list of problems (empty: verified)."""
    problems = []
    algorithm = lottery.get("algorithm") or ""
    print(f"lottery:    {lottery.get('id', '')} {lottery.get('title', '')}".rstrip())
    print(f"algorithm:  {algorithm or '(not stated)'}")
    if algorithm and algorithm != ALGORITHM:
        return [f"unknown algorithm {algorithm!r}: this script checks {ALGORITHM} only"]
    seed_hex = lottery.get("seed") or ""
    commitment = (lottery.get("commitment") or "").lower()
    print(f"commitment: {commitment or '(none)'}")
    if not seed_hex:
        return ["the lottery has not been drawn yet: no seed is published, so there is nothing to verify"]
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        return [f"the seed is not hexadecimal: {seed_hex!r}"]
    if len(seed_hex) % 2 or not seed:
        return [f"the seed is not hexadecimal: {seed_hex!r}"]
    if hashlib.sha256(seed).hexdigest() != commitment:
        problems.append("the seed does not match the commitment (SHA-256 of the seed is "
                        f"{hashlib.sha256(seed).hexdigest()})")
    else:
        print("            matches SHA-256 of the seed")
    entrants = lottery.get("entrants") or []
    prizes = [(p.get("name", ""), integer(p.get("count"), "prize count")) for p in lottery.get("prizes") or []]
    published = [(w.get("prize", ""), integer(w.get("prizeIndex"), "prizeIndex"),
                  integer(w.get("position"), "position"), w.get("userId", ""))
                 for w in lottery.get("winners") or []]
    published.sort(key=lambda w: w[2])
    print(f"entrants:   {len(canonical_entrants(entrants))}")
    expected = winners(seed, entrants, prizes)
    for name, k, position, user in expected:
        print(f"  #{position} {name} (prize {k}): {user}")
    for n in range(max(len(expected), len(published))):
        if n >= len(published):
            problems.append(f"winner #{expected[n][2]} ({expected[n][3]} for {expected[n][0]}) is missing from the published list")
        elif n >= len(expected):
            problems.append(f"published winner {published[n][3]} at position {published[n][2]} is not drawn by the seed")
        elif published[n] != expected[n]:
            problems.append(f"winner #{expected[n][2]}: published {published[n][3]} for {published[n][0]} (prize {published[n][1]}, "
                            f"position {published[n][2]}), the draw gives {expected[n][3]} for {expected[n][0]} (prize {expected[n][1]})")
    return problems


def main():
    parser = argparse.ArgumentParser(description="Verify (or make) a guild-lottery-v1 draw.")
    parser.add_argument("path", nargs="?", help='lottery JSON file, "-" for standard input')
    parser.add_argument("--draw", metavar="SEED_HEX", help="draw with this seed and print the lottery JSON")
    parser.add_argument("--prize", action="append", default=[], metavar="NAME:COUNT")
    parser.add_argument("entrants", nargs="*", help="with --draw: the entrants")
    args = parser.parse_args()

    if args.draw is not None:
        seed = bytes.fromhex(args.draw)
        entrants = ([args.path] if args.path else []) + args.entrants
        prizes = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in args.prize]
        lottery = {
            "id": "example", "title": "Example draw", "status": "drawn", "algorithm": ALGORITHM,
            "commitment": hashlib.sha256(seed).hexdigest(), "seed": seed.hex(),
            "prizes": [{"name": n, "count": c} for n, c in prizes],
            "entrants": entrants,
            "winners": [{k: v for k, v in (("prize", n), ("prizeIndex", i), ("position", p), ("userId", u)) if v != 0}
                        for n, i, p, u in winners(seed, entrants, prizes)],
        }
        print(json.dumps(lottery, indent=2))
        return 0

    if not args.path:
        parser.error("give the lottery JSON file, or - for standard input")
    try:
        text = sys.stdin.read() if args.path == "-" else open(args.path, encoding="utf-8").read()
        lottery = json.loads(text)
        if not isinstance(lottery, dict):
            raise ValueError("the top level is not a JSON object")
        problems = verify(lottery)
    except (OSError, ValueError, AttributeError, TypeError, UnicodeError) as error:
        problems = [f"cannot read the lottery: {error}"]
    if problems:
        print(f"NOT verified: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
