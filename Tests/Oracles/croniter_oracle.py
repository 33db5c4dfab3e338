#!/usr/bin/env python3
"""Reference instants from croniter, for the differential test of dcrond's schedules.

Usage: croniter_oracle.py SEED COUNT

Generates COUNT random cron expressions (5 fields, or 6 with seconds first) and start instants
between 2000 and 2040 (UTC), and prints for each, tab-separated: the expression, the start
(Unix seconds) and croniter's next five instants strictly after it (Unix seconds, comma-separated).
croniter is configured as dcrond reads cron: seconds first (second_at_beginning=True) and Vixie's
day-of-month/day-of-week rule (implement_cron_bug=True). Expressions croniter rejects are left out.

Left out of the generation, because croniter 7.0 reads them differently from Vixie cron and dcrond
(dcrond's own tests cover them): degenerate ranges such as 9-9 or 9-9/3 (croniter reads them as *);
steps larger than the field (croniter accepts */61); nL in the day of week (unsupported); a day
field with * inside a list, such as 10,* (croniter counts it as unrestricted, Vixie only a field
that starts with *); and L, W or # combined with a restricted other day field (croniter ignores
Vixie's either-day rule there).
"""
import random
import sys
from datetime import datetime, timezone

from croniter import croniter

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
FIELDS = {"second": (0, 59), "minute": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12), "dow": (0, 7)}


def value(rng, kind, lo, hi):
    v = rng.randint(lo, hi)
    if kind == "month" and rng.random() < 0.3:
        return MONTHS[v - 1].lower() if rng.random() < 0.2 else MONTHS[v - 1]
    if kind == "dow" and v < 7 and rng.random() < 0.3:
        return DAYS[v]
    return str(v)


def element(rng, kind, in_list=False):
    lo, hi = FIELDS[kind]
    top = 6 if kind == "dow" else hi
    size = top - lo + 1
    r = rng.random()
    if in_list and kind in ("dom", "dow"):
        r = 0.30 + r * 0.70  # no * inside a list of a day field
    if r < 0.15:
        return "*"
    if r < 0.30:
        return "*/%d" % rng.randint(1, size)
    if r < 0.55:
        return value(rng, kind, lo, hi)
    if r < 0.75:
        a, b = rng.sample(range(lo, hi + 1), 2)  # distinct: never a degenerate range
        if kind == "dow" and {a, b} & {0, 7} == {0, 7}:
            b = 3
        return "%s-%s" % (value_of(kind, a), value_of(kind, b))
    if r < 0.90:
        a, b = sorted(rng.sample(range(lo, top + 1), 2))
        return "%d-%d/%d" % (a, b, rng.randint(1, b - a + 1))
    a = rng.randint(lo, top)
    return "%d/%d" % (a, rng.randint(1, size))


def value_of(kind, v):
    return str(v)


def field(rng, kind):
    if kind == "dom":
        r = rng.random()
        if r < 0.04:
            return "L"
        if r < 0.08:
            return "%dW" % rng.randint(1, 31)
        if r < 0.11:
            return "?"
    if kind == "dow":
        r = rng.random()
        if r < 0.04:
            return "%d#%d" % (rng.randint(0, 6), rng.randint(1, 5))
        if r < 0.07:
            return "?"
    # Plain fields are mostly "*" so that expressions fire often enough to compare.
    if kind in ("dom", "month", "dow") and rng.random() < 0.45:
        return "*"
    items = rng.choice([1, 1, 1, 2, 3])
    return ",".join(element(rng, kind, items > 1) for _ in range(items))


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    low, high = int(datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()), int(datetime(2040, 1, 1, tzinfo=timezone.utc).timestamp())
    produced = 0
    while produced < count:
        kinds = ["minute", "hour", "dom", "month", "dow"]
        if rng.random() < 0.5:
            kinds = ["second"] + kinds
        fields = {kind: field(rng, kind) for kind in kinds}
        special_dom = fields["dom"] == "L" or fields["dom"].endswith("W")
        special_dow = "#" in fields["dow"]
        if special_dom and not fields["dow"].startswith(("*", "?")):
            fields["dow"] = rng.choice(["*", "?"])
        if special_dow and not fields["dom"].startswith(("*", "?")):
            fields["dom"] = rng.choice(["*", "?"])
        expression = " ".join(fields[kind] for kind in kinds)
        start = rng.randint(low, high)
        try:
            it = croniter(expression, datetime.fromtimestamp(start, timezone.utc),
                          second_at_beginning=True, implement_cron_bug=True, max_years_between_matches=50)
            instants = [int(it.get_next(float)) for _ in range(5)]
        except Exception:
            continue
        print("%s\t%d\t%s" % (expression, start, ",".join(map(str, instants))))
        produced += 1


if __name__ == "__main__":
    main()
