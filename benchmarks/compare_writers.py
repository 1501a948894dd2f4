"""Byte comparison of this checkout's export writers with another commit's, on the same truth.

The other commit's package is unpacked with ``git archive`` into a temporary directory under
another name (``ketamine_bzd_ref``), so both can be imported side by side; the truth tables come
from this checkout's generator and are written by both (``spss_wide`` for ket2009, ``ecrf_cz``
for ket2013). Prints one line per file and exits 1 on any difference.
Usage: python benchmarks/compare_writers.py REF N_PATIENTS SEED   (e.g. main 2000 1)
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
ROOT = Path(__file__).resolve().parents[1]


def reference_formats(ref: str, where: Path):
    archive = where / "ref.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "src/ketamine_bzd"], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    (where / "src" / "ketamine_bzd").rename(where / "ketamine_bzd_ref")
    sys.path.insert(0, str(where))
    return importlib.import_module("ketamine_bzd_ref.formats").FORMATS


def main() -> int:
    ref, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.synthetic import generate_cohort

    truth = generate_cohort(n, seed)
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        old_formats = reference_formats(ref, Path(tmp))
        for study, fmt in FORMAT_OF.items():
            t0 = time.perf_counter()
            new = FORMATS[fmt].write(truth[study], Path(tmp) / "new" / study)
            t1 = time.perf_counter()
            old = old_formats[fmt].write(truth[study], Path(tmp) / "ref" / study)
            t2 = time.perf_counter()
            for role in new:
                equal = new[role].read_bytes() == old[role].read_bytes()
                same &= equal
                print(
                    f"{study} {role}: {'identical' if equal else 'DIFFERENT'} "
                    f"({new[role].stat().st_size} bytes)"
                )
            print(f"{study}: write {t1 - t0:.2f} s here, {t2 - t1:.2f} s at {ref}")
    print("all files identical" if same else "files differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
