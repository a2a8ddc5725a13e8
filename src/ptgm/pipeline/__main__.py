"""Maintenance: `python -m ptgm.pipeline --write-configs configs` regenerates the experiment configs."""

import argparse

from ptgm.pipeline.experiments import write_configs

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="maintenance: regenerate the experiment configs")
    parser.add_argument("--write-configs", metavar="DIR", default="configs",
                        help="folder to write default.yaml, benchmark.yaml and ablations.yaml into")
    for written in write_configs(parser.parse_args().write_configs):
        print(f"wrote {written}")
