"""Maintenance: `python -m ptgm.pipeline --format-configs configs/*.yaml` rewrites the experiment configs' comments
and listings from the settings' code, keeping every value (`--check-configs` only names the files out of date);
`python -m ptgm.pipeline --ship runs/pretrain` copies a finished pre-training into the package as the shipped one."""

import argparse
import sys
from pathlib import Path

from ptgm.pipeline.config_files import format_configs
from ptgm.pipeline.shipped import SHIPPED, ship

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="maintenance: format the experiment configs or ship a pre-training")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--format-configs", nargs="+", metavar="FILE",
                       help="rewrite these configs' comments and listings, keeping their values")
    group.add_argument("--check-configs", nargs="+", metavar="FILE",
                       help="name the configs whose comments or listings are out of date (exit 1 if any)")
    group.add_argument("--ship", metavar="RUN", help=f"copy this finished pre-training into {SHIPPED}")
    args = parser.parse_args()
    if args.ship:
        manifest = ship(Path(args.ship))
        print(f"shipped {len(manifest['files'])} files of {args.ship} into {SHIPPED}")
    elif args.format_configs:
        for path in format_configs(args.format_configs):
            print(f"formatted {path}")
    else:
        stale = format_configs(args.check_configs, check=True)
        for path in stale:
            print(f"{path} is out of date: python -m ptgm.pipeline --format-configs {path}")
        sys.exit(1 if stale else 0)
