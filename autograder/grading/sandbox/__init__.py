"""Run one submission's cells in a sandbox: learner code in one process, tests in another.

Why two processes. A test cell and the learner's code that it tests cannot share a
process safely: anything the learner's code runs first can replace what the test calls
(``numpy.testing.assert_allclose = lambda *a: None``), read the test when it arrives, or
forge the report of its result. So a submission runs as a pair:

* **L, the learner process**, runs the learner's cells, in order, and nothing else. It
  never receives a test cell (visible or hidden), and its reports are never believed.
* **T, the test process**, runs the graded test cells with its own, untouched copies of
  ``course.checks``, numpy and torch. When a test names something the learner defined
  (``double``, ``x``), T fetches it from L: data comes by value through a decoder that
  builds only plain values, numpy arrays and torch tensors; functions and other objects
  become proxies whose calls run in L (an instance of a plain class of the learner's comes
  with a copy of its attributes, good until T next sends anything: ``values.plain_attributes``;
  a call to a constructor of the learner's own class may go without waiting, its reply read with
  the next request's, and its error fails the test cell uncatchably: ``tests._Conn.construct``).
  Whatever the learner's code patches, it patches
  in L, where no test runs. Only T reports results to the worker, over a socket L has no
  handle on.

Both are forked from a **zygote**: a process started once per worker that has already
imported numpy, torch and ``course.checks`` (and what torch imports on first use:
``zygote.TORCH_LAZY_IMPORTS``), so a submission pays for a fork (a few milliseconds), not for
a kernel start and ``import torch`` (seconds).

Isolation, when the worker runs as root (CI, a server): the pair gets a new network
namespace (no network, not even loopback traffic to the service) and a new mount
namespace with one private, size-limited tmpfs for /tmp, /var/tmp and /dev/shm, and the
course's solutions/, the service's data directory and any other listed path hidden under
empty read-only mounts; the run's init then gives L a root of its own (a tmpfs holding, read-only,
only the interpreter, the course's packages, the system's libraries and the run's scratch and
/proc: ``isolation._narrow_view``). L runs as a uid of its own (``sandbox_uid_base + i``, leased machine-wide: UidLease), T as
another, so L can neither signal nor trace T, the worker or another submission, and can
write only in its scratch directory. Both have setrlimit limits on CPU time, address
space, processes, file size and open files, and the worker enforces the notebook's total
wall-clock time. As root, the run's learner side also gets a PID namespace of its own (its init
reaps, and when it ends every process of the run ends; the run sees no other process) and a
cgroup (memory, processes and CPU for the run as a whole: cgroups.py). Without root, the pair gets what an unprivileged user namespace allows
(network and mount namespaces, and L's own root) when the kernel permits it, and otherwise only limits and
a scratch directory; ``isolation`` in every result says which.

The package, one module per concern: ``channel`` (messages on a socket), ``boundary`` (what
may cross from L into a verdict: read it first), ``values`` (how values are encoded in L),
``proxies`` (T's decoder and the proxies of L's objects), ``state`` (what is kept in step),
``keyed`` (a large tensor L sent before crosses again by key, to T's own copy), ``learner`` (L), ``tests`` (T), ``definitions`` (which names a test leaves for the learner's
later cells, read from source), ``code`` (which code a rule check judges: the code L runs,
matched in the submitted cells), ``isolation`` (namespaces, uids, rlimits), ``cgroups`` (limits
for the run as a whole) and ``zygote`` (the forker and the worker's side).

This package imports only the standard library at module level: the zygote must start
with nothing of the service in it.
"""

from __future__ import annotations

from .channel import (  # noqa: F401
    _LEN,
    MAX_MESSAGE,
    ChannelClosed,
    ChannelTimeout,
    _recv_exact,
    recv_json,
    recv_msg,
    send_json,
    send_msg,
)
from .definitions import _DEFINITION_NODES, _definitions_for, _names_in, _top_level_definitions  # noqa: F401
from .isolation import (  # noqa: F401
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    UidLease,
    _blocking_ancestor,
    _c,
    _check,
    _close_fds,
    _drop_to,
    _expose_python,
    _init_loop,
    _isolate,
    _libc,
    _limits,
    _mount,
    _private_proc,
    _python_paths,
    _scratch,
    _share_tempdirs,
    _stdio_to_null,
    _vm_size,
    kill_uids,
)
from .learner import (  # noqa: F401
    WATCHED_MODULES,
    CappedText,
    _error_output,
    _fingerprint,
    _IPythonStub,
    _Learner,
    _patches,
    _Refs,
    _run_code,
    _transform,
    learner_main,
)
from .proxies import (  # noqa: F401
    _BINOPS,
    _REMOTE_TYPES,
    _UNOPS,
    Remote,
    RemoteError,
    _binop,
    _Decoder,
    _LearnerHook,
    _remote_type,
    _unop,
)
from .state import (  # noqa: F401
    _COMPARE_NUMEL,
    _HOOK_DICTS,
    _LEARNER_GRAPH,
    _PLAIN_TYPES,
    _apply_payload,
    _hook_dicts,
    _learner_graph,
    _LUnpickler,
    _meta,
    _plain,
    _rng_fingerprint,
    _rng_state,
    _same,
    _set_rng_state,
    _snapshot,
    _Sync,
    _t_dumps,
    _tensor_build,
    _tensor_payload,
    _TPickler,
)
from .tests import (  # noqa: F401
    _SIGNALS,
    _Conn,
    _death_reason,
    _death_reason_signal,
    _find_code,
    _sanitise_outputs,
    tests_main,
)
from .values import (  # noqa: F401
    _BUILTIN_EXCEPTIONS,
    _PASSTHROUGH,
    _SAFE_NP_KINDS,
    _SYNC_DTYPES,
    _TORCH_DTYPES,
    SYMBOL_LIBRARIES,
    TAG,
    LearnerCrashed,
    LearnerTimeout,
    _as_list,
    _bytes,
    _int,
    _is_generator,
    _is_hook_handle,
    _is_module,
    _is_optimizer,
    _is_tag,
    _library_symbol,
    _local_callable,
    _pair,
    _SafeUnpickler,
    _str,
    _syncable,
    _TRef,
    _TrustedModuleName,
    encode,
    safe_loads,
)
from .zygote import (  # noqa: F401
    RunOutcome,
    Zygote,
    _next_index,
    pair_main,
    zygote_main,
)
