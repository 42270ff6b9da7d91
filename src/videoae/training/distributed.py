"""Process-group state, detected once from the environment that ``torchrun`` sets.

One code path serves any world size: with ``WORLD_SIZE`` unset or 1 every helper here is a cheap
no-op, so the trainer never branches on "distributed or not" beyond :func:`setup`.

A process whose peer dies sees its next collective fail (gloo notices a closed connection within
seconds). :func:`collectives` turns that failure into :class:`PeerLost`, one line that says the
run folder is resumable, instead of a backend traceback.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from videoae.errors import EXIT_RESUMABLE, InvalidInputError, VideoAEError
from videoae.validation import resolve_device

# How long a collective waits for a peer that is alive but does not answer (a dead peer is
# noticed sooner: its connection closes).
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=30)


class PeerLost(VideoAEError):
    """Another process of the group died or hung up; this one stops, its run folder resumable."""

    exit_code = EXIT_RESUMABLE


class RefusedElsewhere(VideoAEError):
    """Process 0 refused to start (and said why); the other processes stop without a word."""

    silent = True


@dataclass(frozen=True)
class DistState:
    """Where this process stands: rank, world size and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    # The group that carries the trainer's own small messages (stop flags, decisions): gloo, so
    # they stay CPU tensors that never wait for a GPU stream, whatever the training backend.
    control_group: object | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class ProcessPlace:
    """RANK, WORLD_SIZE and LOCAL_RANK as checked numbers."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def process_place(environ: dict[str, str] | None = None) -> ProcessPlace:
    """This process's place in the group, from the environment torchrun sets, checked.

    Raises:
        InvalidInputError: a value that is not a number, out of range, or inconsistent (a stray
            ``RANK=1`` with no ``WORLD_SIZE`` would otherwise make a run that writes nothing).
    """
    environ = os.environ if environ is None else environ
    numbers = {}
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        text = environ.get(name)
        if text is None:
            numbers[name] = default
            continue
        shown = text if len(text) <= 20 else text[:20] + "..."
        if not text.strip().isdigit() or len(text.strip()) > 9:
            raise InvalidInputError(
                f"environment variable {name}={shown!r} is not a process number; unset it, or launch with torchrun, which sets it"
            )
        numbers[name] = int(text)
    rank, world_size, local_rank = numbers["RANK"], numbers["WORLD_SIZE"], numbers["LOCAL_RANK"]
    if world_size < 1 or rank >= world_size or local_rank >= world_size:
        raise InvalidInputError(
            f"environment variables RANK={rank}, WORLD_SIZE={world_size}, LOCAL_RANK={local_rank} do not fit together "
            "(each rank must be below WORLD_SIZE); unset them, or launch with torchrun, which sets them"
        )
    if world_size > 1 and not (environ.get("MASTER_ADDR") and environ.get("MASTER_PORT")):
        raise InvalidInputError(
            f"WORLD_SIZE={world_size} but MASTER_ADDR or MASTER_PORT is not set: launch several processes with torchrun, "
            "or unset WORLD_SIZE to train in one"
        )
    return ProcessPlace(rank=rank, world_size=world_size, local_rank=local_rank)


def setup(device_name: str = "auto") -> DistState:
    """Read RANK / WORLD_SIZE / LOCAL_RANK, join the process group (NCCL on CUDA, gloo on CPU)."""
    place = process_place()
    device = resolve_device(device_name, place.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    control_group = None
    if place.world_size > 1:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_initialized():
            with collectives("joining the process group"):
                _join(backend)
        if backend != "gloo":
            control_group = dist.new_group(backend="gloo", timeout=PROCESS_GROUP_TIMEOUT)
    return DistState(rank=place.rank, world_size=place.world_size, local_rank=place.local_rank, device=device, control_group=control_group)


def _join(backend: str) -> None:
    """Join the process group through the environment's store, under a prefix for torchrun's restart.

    torchrun's static rendezvous (``--master-port``) keeps one store across the restarts of
    ``--max-restarts``: a restarted group would read the addresses its dead predecessors
    published there, and hang or fail to connect (seen here in 4 restarts of 6; none of 6 since). A prefix per
    attempt keeps each group to its own keys.
    """
    store, rank, world_size = next(dist.rendezvous("env://", timeout=PROCESS_GROUP_TIMEOUT))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"videoae/attempt_{attempt}", store)
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size, timeout=PROCESS_GROUP_TIMEOUT)


def teardown(state: DistState, *, together: bool) -> None:
    """Leave the process group, if this process joined one.

    Args:
        together: every process is known to leave at this point (a run that ended, a stop they
            voted for, a refusal they agreed on). They then wait for each other before closing
            their connections: one closing while another still used its end aborted the other
            in gloo (1 refused start in 10). Otherwise nothing waits, so nothing can hang on a
            peer that is elsewhere; the connections close with the process.
    """
    if not (state.enabled and dist.is_initialized() and together):
        return
    with contextlib.suppress(Exception):  # leaving must not raise over the real error
        barrier(state)
        dist.destroy_process_group()


@contextlib.contextmanager
def collectives(doing: str) -> Iterator[None]:
    """Turn the failure of a collective (a peer died, hung up or timed out) into :class:`PeerLost`."""
    try:
        yield
    except RuntimeError as err:  # gloo and NCCL raise DistError (DistBackendError ...) or a plain RuntimeError
        if not (isinstance(err, dist.DistError) or (dist.is_initialized() and _is_peer_failure(err))):
            raise
        raise PeerLost(
            f"lost contact with another training process while {doing} ({_first_line(err)}); "
            "this process stopped, and the run folder resumes from its last checkpoint"
        ) from None


def _is_peer_failure(err: RuntimeError) -> bool:
    text = str(err).lower()
    return any(sign in text for sign in ("gloo", "connection", "timed out", "nccl", "peer"))


def _first_line(err: BaseException) -> str:
    text = re.sub(r"^\[[^\]]*\]\s*", "", " ".join(str(err).split()))  # gloo's source location says nothing to a user
    return text if len(text) <= 160 else text[:160] + "..."


def all_reduce_sum(state: DistState, tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (in place); identity for one process."""
    if state.enabled:
        with collectives("summing metrics"):
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def highest(state: DistState, value: int, *, doing: str = "agreeing on a decision") -> int:
    """The highest of every process's ``value``, on every process (``value`` itself for one).

    A one-number all-reduce on the CPU (gloo) group, so it never waits for a GPU stream. The
    trainer calls it after every step to agree on when to stop, and why (0 goes on; a higher
    number is a stronger reason to stop); the processes are in step anyway, since DDP reduces
    their gradients every step. (A vote read one step late, asynchronously, was tried: one
    2-process run in 8 then aborted in gloo at exit.)
    """
    if not state.enabled:
        return value
    reduced = torch.tensor([value], dtype=torch.int32)
    with collectives(doing):
        dist.all_reduce(reduced, op=dist.ReduceOp.MAX, group=state.control_group)
    return int(reduced.item())


def any_process(state: DistState, flag: bool) -> bool:
    """True on every process if ``flag`` is true on any: for decisions all must agree on."""
    return bool(highest(state, int(flag)))


def broadcast_code(state: DistState, code: int) -> int:
    """Process 0's ``code`` on every process (a small int: a decision only process 0 can make)."""
    if not state.enabled:
        return code
    value = torch.tensor([code], dtype=torch.int64)
    with collectives("waiting for process 0"):
        dist.broadcast(value, src=0, group=state.control_group)
    return int(value.item())


def barrier(state: DistState) -> None:
    """Wait for every process; no-op for one process."""
    if state.enabled:
        with collectives("waiting for the other processes"):
            dist.barrier(group=state.control_group)
