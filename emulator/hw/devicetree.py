"""The flattened device tree the firmware hands to each kernel it boots."""

from dataclasses import dataclass, field


@dataclass
class DeviceTree:
    """Nodes by absolute path, each a dict of property name to raw bytes.

    Properties are stored as the firmware encodes them (big-endian cells), so a
    kernel reading them must decode them as a real one does.
    """

    nodes: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"/": {}})

    def node(self, path: str) -> dict[str, bytes]:
        """The properties of ``path``, created (with its parents) if absent."""
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            self.nodes.setdefault("/" + "/".join(parts[:depth]), {})
        return self.nodes.setdefault(path, {})

    def set(self, path: str, name: str, value: bytes) -> None:
        self.node(path)[name] = bytes(value)

    def get(self, path: str, name: str) -> bytes | None:
        return self.nodes.get(path, {}).get(name)

    def delete(self, path: str, name: str) -> None:
        self.nodes.get(path, {}).pop(name, None)

    def has(self, path: str, name: str) -> bool:
        return name in self.nodes.get(path, {})

    def proc_files(self) -> dict[str, bytes]:
        """The tree as /proc/device-tree shows it: one file per property."""
        return {
            f"/proc/device-tree{path.rstrip('/')}/{name}": value
            for path, props in sorted(self.nodes.items())
            for name, value in sorted(props.items())
        }


def cells(*values: int) -> bytes:
    """Big-endian 32-bit cells, the device tree's encoding of numbers."""
    return b"".join((v & 0xFFFFFFFF).to_bytes(4, "big") for v in values)


def read_cells(raw: bytes) -> list[int]:
    """Decode big-endian 32-bit cells."""
    return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw) - len(raw) % 4, 4)]
