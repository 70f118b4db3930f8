"""Run a BraTS 2020 recipe; the same as ``unetseg train`` (``--help`` for the options).

python examples/brats2020/run.py                 # the quick recipe on generated data
python examples/brats2020/run.py 3d_fullres --data MICCAI_BraTS2020_TrainingData
"""

import sys

from unetseg.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
