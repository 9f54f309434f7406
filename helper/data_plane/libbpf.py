"""A small ctypes layer over Debian's libbpf1: open and load an object, attach its
programs (cgroup links, a netfilter link), use its maps and read its ring buffers. No
compiler at run time.

Every failure raises `BpfError` with the errno libbpf reported. libbpf's own messages
(the verifier's log among them) go to this module's logger at debug level.
"""

import ctypes
import ctypes.util
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_PRINT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
# int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)
BPF_NOEXIST = 1
_SAMPLE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


class BpfError(OSError):
    """libbpf or the kernel refused: the errno says why (EPERM: no CAP_BPF, ...)."""


class _NetfilterOptions(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("pf", ctypes.c_uint32), ("hooknum", ctypes.c_uint32),
                ("priority", ctypes.c_int32), ("flags", ctypes.c_uint32)]  # fmt: skip


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise BpfError(errno.ENOENT, f"libbpf is not installed ({exc})") from None
    pointer = ctypes.c_void_p
    for function, result, arguments in (
        ("libbpf_set_print", pointer, [_PRINT]),
        ("bpf_object__open_file", pointer, [ctypes.c_char_p, pointer]),
        ("bpf_object__load", ctypes.c_int, [pointer]),
        ("bpf_object__close", None, [pointer]),
        ("bpf_object__find_program_by_name", pointer, [pointer, ctypes.c_char_p]),
        ("bpf_object__find_map_fd_by_name", ctypes.c_int, [pointer, ctypes.c_char_p]),
        ("bpf_program__attach_cgroup", pointer, [pointer, ctypes.c_int]),
        ("bpf_program__attach_netfilter", pointer, [pointer, ctypes.POINTER(_NetfilterOptions)]),
        ("bpf_link__destroy", ctypes.c_int, [pointer]),
        ("bpf_map_lookup_elem", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, pointer]),
        (
            "bpf_map_update_elem",
            ctypes.c_int,
            [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64],
        ),
        ("bpf_map_delete_elem", ctypes.c_int, [ctypes.c_int, ctypes.c_char_p]),
        (
            "bpf_map_lookup_batch",
            ctypes.c_int,
            [
                ctypes.c_int,
                pointer,
                pointer,
                pointer,
                pointer,
                ctypes.POINTER(ctypes.c_uint32),
                pointer,
            ],
        ),
        ("libbpf_num_possible_cpus", ctypes.c_int, []),
        ("ring_buffer__new", pointer, [ctypes.c_int, _SAMPLE, pointer, pointer]),
        ("ring_buffer__consume", ctypes.c_int, [pointer]),
        ("ring_buffer__consume_n", ctypes.c_int, [pointer, ctypes.c_size_t]),
        ("ring_buffer__epoll_fd", ctypes.c_int, [pointer]),
        ("ring_buffer__free", None, [pointer]),
    ):
        entry = getattr(lib, function)
        entry.restype, entry.argtypes = result, arguments
    lib.libbpf_set_print(_print_to_log)
    return lib


_libc = ctypes.CDLL(None)
_libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]


@_PRINT
def _print_to_log(level: int, text: bytes, arguments: int) -> int:
    # On x86-64 and arm64 a va_list is passed as a pointer, which vsnprintf takes as is.
    line = ctypes.create_string_buffer(1024)
    _libc.vsnprintf(line, len(line), text, arguments)
    log.debug("libbpf: %s", line.value.decode(errors="replace").rstrip())
    return 0


def _failed(what: str) -> BpfError:
    code = ctypes.get_errno() or errno.EINVAL
    return BpfError(code, f"{what}: {os.strerror(code)}")


class BpfObject:
    """One loaded BPF object; its links are destroyed (programs detached) by `close`."""

    def __init__(self, path: Path) -> None:
        self._lib = _library()
        if not path.is_file():
            raise BpfError(errno.ENOENT, f"no BPF object at {path}")
        self._object = self._lib.bpf_object__open_file(os.fsencode(path), None)
        if not self._object:
            raise _failed(f"cannot open {path}")
        self._links: list[int] = []
        self._rings: list[tuple[int, object]] = []  # each with its callback, kept alive
        loaded = self._lib.bpf_object__load(self._object)
        if loaded:
            self.close()
            raise BpfError(-loaded, f"the kernel refused {path.name}: {os.strerror(-loaded)}")

    def _program(self, name: str) -> int:
        program = self._lib.bpf_object__find_program_by_name(self._object, name.encode())
        if not program:
            raise BpfError(errno.ENOENT, f"no program {name} in the object")
        return program

    def attach_cgroup(self, name: str, cgroup_fd: int) -> None:
        """Attach program `name` to a cgroup as a link: alongside other programs there
        (a link never replaces one), detached when the link is destroyed or we exit."""
        link = self._lib.bpf_program__attach_cgroup(self._program(name), cgroup_fd)
        if not link:
            raise _failed(f"cannot attach {name} to the cgroup")
        self._links.append(link)

    def attach_netfilter(self, name: str, family: int, hook: int, priority: int) -> None:
        """Attach program `name` to a netfilter hook of this thread's network namespace."""
        options = _NetfilterOptions(ctypes.sizeof(_NetfilterOptions), family, hook, priority, 0)
        link = self._lib.bpf_program__attach_netfilter(self._program(name), options)
        if not link:
            raise _failed(f"cannot attach {name} to netfilter")
        self._links.append(link)

    def map_fd(self, name: str) -> int:
        fd = self._lib.bpf_object__find_map_fd_by_name(self._object, name.encode())
        if fd < 0:
            raise BpfError(errno.ENOENT, f"no map {name} in the object")
        return fd

    def lookup(self, map_fd: int, key: bytes, value: ctypes.Array) -> bool:
        """Fill `value` with map `map_fd`'s entry for `key`; False if there is none."""
        return self._lib.bpf_map_lookup_elem(map_fd, key, value) == 0

    def update(self, map_fd: int, key: bytes, value: bytes, only_new: bool = False) -> bool:
        """Set map `map_fd`'s entry for `key` to `value` (`only_new`: unless it has one;
        then False)."""
        if self._lib.bpf_map_update_elem(map_fd, key, value, BPF_NOEXIST if only_new else 0):
            if only_new and ctypes.get_errno() == errno.EEXIST:
                return False
            raise _failed("cannot update a map")
        return True

    def entries(self, map_fd: int, key_size: int, value_size: int) -> list[tuple[bytes, bytes]]:
        """Every (key, value) of hash map `map_fd`, read in batches."""
        found: list[tuple[bytes, bytes]] = []
        batch, token, started = 256, ctypes.c_uint32(0), False
        keys = ctypes.create_string_buffer(key_size * batch)
        values = ctypes.create_string_buffer(value_size * batch)
        while True:
            count = ctypes.c_uint32(batch)
            result = self._lib.bpf_map_lookup_batch(
                map_fd, ctypes.byref(token) if started else None, ctypes.byref(token), keys,
                values, ctypes.byref(count), None)  # fmt: skip
            code = ctypes.get_errno()
            found += [(keys.raw[i * key_size : (i + 1) * key_size],
                       values.raw[i * value_size : (i + 1) * value_size])
                      for i in range(count.value)]  # fmt: skip
            if result:
                if code == errno.ENOENT:  # the last batch
                    return found
                raise _failed("cannot read a map")
            started = True

    def per_cpu_sum(self, map_fd: int, key: bytes) -> int:
        """The sum over every CPU of a per-CPU map's 64-bit value for `key`."""
        cpus = self._lib.libbpf_num_possible_cpus()
        values = (ctypes.c_uint64 * max(cpus, 1))()
        if self._lib.bpf_map_lookup_elem(map_fd, key, values):
            return 0
        return sum(values)

    def delete(self, map_fd: int, key: bytes) -> None:
        """Remove map `map_fd`'s entry for `key`, if it has one."""
        self._lib.bpf_map_delete_elem(map_fd, key)

    def ring_buffer(self, map_fd: int, on_record: Callable[[bytes], None]) -> tuple[int, int]:
        """Read ring buffer map `map_fd`: (a handle for `consume`, an fd that is readable
        when it has records). `on_record` gets each record's bytes."""

        @_SAMPLE
        def sample(_context: int, data: int, size: int) -> int:
            on_record(ctypes.string_at(data, size))
            return 0

        ring = self._lib.ring_buffer__new(map_fd, sample, None, None)
        if not ring:
            raise _failed("cannot read a ring buffer")
        self._rings.append((ring, sample))
        return ring, self._lib.ring_buffer__epoll_fd(ring)

    def consume(self, ring: int, most: int = 0) -> None:
        """Hand the records waiting in `ring` to its `on_record`: every one, or `most`."""
        if most:
            self._lib.ring_buffer__consume_n(ring, most)
        else:
            self._lib.ring_buffer__consume(ring)

    def close(self) -> None:
        for ring, _sample in self._rings:
            self._lib.ring_buffer__free(ring)
        self._rings.clear()
        for link in self._links:
            self._lib.bpf_link__destroy(link)
        self._links.clear()
        if self._object:
            self._lib.bpf_object__close(self._object)
            self._object = None
