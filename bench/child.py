"""Run one measurement in this (fresh) process and print its result, with this process's peak RSS, as JSON."""

from __future__ import annotations

import json
import sys

from bench import measures


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    result = getattr(measures, name)(**args)
    result["peak_rss_mb"] = measures.peak_rss_mb()
    print("BENCH-RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
