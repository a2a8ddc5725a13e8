"""Maintenance: `python -m ptgm.pipeline --write-configs configs` regenerates the experiment configs;
`python -m ptgm.pipeline --ship runs/pretrain` copies a finished pre-training into the package as the shipped one."""

import argparse
from pathlib import Path

from ptgm.pipeline.experiments import write_configs
from ptgm.pipeline.shipped import SHIPPED, ship

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="maintenance: regenerate the experiment configs or the shipped models")
    parser.add_argument("--write-configs", metavar="DIR", default="configs",
                        help="folder to write the experiment configs (default.yaml, benchmark.yaml, ...) into")
    parser.add_argument("--ship", metavar="RUN", help=f"copy this finished pre-training into {SHIPPED} instead")
    args = parser.parse_args()
    if args.ship:
        manifest = ship(Path(args.ship))
        print(f"shipped {len(manifest['files'])} files of {args.ship} into {SHIPPED}")
    else:
        for written in write_configs(args.write_configs):
            print(f"wrote {written}")
