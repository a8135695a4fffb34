# Run once in a ds session's namespace when its seed folder is (re)bound: the working directory
# becomes the seed folder, and the names upstream's ds_run_python offers without an import exist.
import collections
import datetime
import itertools
import json
import math
import os
import random
import re
import time
import warnings
from pathlib import Path

os.chdir(SEED_DIR)
for _name, _module in (("pd", "pandas"), ("np", "numpy"), ("scipy", "scipy")):
    try:
        globals()[_name] = __import__(_module)
    except ImportError:
        pass
try:
    import matplotlib.pyplot as plt
except ImportError:
    pass


def load_csv(name, **kwargs):
    """A CSV file of the seed folder, as a pandas DataFrame."""
    import pandas

    return pandas.read_csv(os.path.join(SEED_DIR, os.path.basename(name)), **kwargs)


def save_file(data, name, **kwargs):
    """Saves a DataFrame (CSV), a figure (image) or text into the workspace (~), not the seed."""
    path = os.path.join(os.path.expanduser("~"), os.path.basename(name))
    if hasattr(data, "to_csv"):
        data.to_csv(path, **kwargs)
    elif hasattr(data, "savefig"):
        data.savefig(path, **kwargs)
    else:
        with open(path, "w") as f:
            f.write(str(data))
    return f"File saved to: {path}"
