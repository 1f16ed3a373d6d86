"""``python -m o_lisp.worker``: how the guardian starts a zygote or, without one, a worker.

* ``zygote CONTROL_FD`` — the fork server (`o_lisp.worker._zygote`);
* ``worker IN_FD OUT_FD SPEC_JSON`` — one worker started directly (no zygote), used
  when the fork server is disabled or being restarted (`o_lisp.worker._serve`).
"""

from __future__ import annotations

import sys

from o_lisp.guardian._protocol import WorkerSpec
from o_lisp.worker._serve import run_worker
from o_lisp.worker._zygote import run_zygote


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "zygote":
        return run_zygote(int(args[1]))
    if len(args) == 4 and args[0] == "worker":
        return run_worker(WorkerSpec.from_json(args[3]), int(args[1]), int(args[2]))
    print("usage: python -m o_lisp.worker zygote FD | worker IN_FD OUT_FD SPEC_JSON", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
