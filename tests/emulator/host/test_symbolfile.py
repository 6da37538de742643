"""The symbol file's DWARF, read back with pyelftools, says what the profile's layouts say.

Layouts checked: struct page (kernels.memmap PAGE_3_4, PAGE_6_10: include/linux/mm_types.h of each
version), the 6.10 printk ring (kernels.printk_ringbuffer PRB_VMCOREINFO: log_buf_vmcoreinfo_setup(),
kernel/printk/printk.c v6.10), uts_namespace.name at 4 (the profile's OFFSET(uts_namespace.name)), and the
emulator's own task_struct and rq (kernels.tasks); every symbol sits at KERNELBASE | its physical address.
"""

import dataclasses

import pytest
from elftools.elf.elffile import ELFFile

from emulator.host import symbolfile
from kernels import tasks
from kernels.image import SYMBOLS, va
from kernels.memmap import PAGE_3_4, PAGE_6_10
from kernels.printk_ringbuffer import PRB_DEFAULTS
from tests.emulator.host.test_debuggers import require_compiler


def dwarf_structs(path) -> dict[str, dict]:
    """struct name -> {"size": n, "members": {name: offset}} from the file's DWARF."""
    out = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for cu in elf.get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                if die.tag != "DW_TAG_structure_type" or "DW_AT_byte_size" not in die.attributes:
                    continue
                if "DW_AT_name" not in die.attributes:
                    continue
                members = {}
                for child in die.iter_children():
                    if child.tag != "DW_TAG_member":
                        continue
                    at = child.attributes.get("DW_AT_data_member_location")
                    if "DW_AT_name" in child.attributes:
                        members[child.attributes["DW_AT_name"].value.decode()] = at.value if at else None
                    else:  # an anonymous union: its members share its offset
                        union = child.get_DIE_from_attribute("DW_AT_type")
                        for m in union.iter_children():
                            members[m.attributes["DW_AT_name"].value.decode()] = at.value
                out[die.attributes["DW_AT_name"].value.decode()] = {
                    "size": die.attributes["DW_AT_byte_size"].value, "members": members}
        symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name}
    return out, symbols


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    made = {}

    def get(profile: str, little_endian: bool = True):
        require_compiler(little_endian)
        key = (profile, little_endian)
        if key not in made:
            d = symbolfile.ImageDescription.of_profile(profile, little_endian, "x")
            made[key] = dwarf_structs(symbolfile.build(d, tmp_path_factory.mktemp("sym") / "vmlinux"))
        return made[key]

    return get


@pytest.mark.parametrize("profile, layout", [("linux-3.4", PAGE_3_4), ("linux-6.10", PAGE_6_10)])
@pytest.mark.parametrize("little_endian", [True, False])
def test_struct_page_in_dwarf_is_the_profiles_struct_page(built, profile, layout, little_endian):
    structs, _ = built(profile, little_endian)
    page = structs["page"]
    assert page["size"] == layout.size
    m = page["members"]
    assert (m["flags"], m["lru"], m["mapping"], m["index"], m["private"], m["_mapcount"], m[layout.refcount_name]) \
        == (layout.flags, layout.lru, layout.mapping, layout.index, layout.private, layout.mapcount, layout.refcount)
    if getattr(layout, "compound_head", None) is not None:  # 6.x PageLayout: compound_head shares lru's word
        assert m["compound_head"] == layout.compound_head


def test_the_printk_ring_in_dwarf_is_the_one_vmcoreinfo_publishes(built):
    structs, _ = built("linux-6.10")
    checked = 0
    for key, value in PRB_DEFAULTS.items():
        kind, _, rest = key.rstrip(")").partition("(")
        if kind == "SIZE" and rest != "atomic_long_t":
            assert structs[rest]["size"] == value, key
            checked += 1
        elif kind == "OFFSET" and not rest.startswith("atomic_long_t"):
            struct, member = rest.split(".")
            assert structs[struct]["members"][member] == value, key
            checked += 1
    assert checked >= 30


def test_tasks_runqueues_and_utsname_in_dwarf_are_the_emulators(built):
    structs, _ = built("linux-3.4")
    assert structs["task_struct"]["size"] == tasks.TASK_STRUCT_SIZE
    assert structs["task_struct"]["members"] == {m.name: m.offset for m in tasks.TASK_STRUCT}
    assert structs["rq"]["members"] == {m.name: m.offset for m in tasks.RQ}
    assert structs["uts_namespace"]["members"]["name"] == 4


@pytest.mark.parametrize("profile", ["linux-3.4", "linux-6.10"])
def test_every_symbol_is_at_its_emulated_address(built, profile):
    _, symbols = built(profile)
    named = {n for n in symbols if n in SYMBOLS}
    expected = {"init_uts_ns", "linux_banner", "crashing_cpu", "__per_cpu_offset", "init_task", "runqueues",
                "log_buf", "__log_buf", "mem_map"}
    assert expected <= named
    assert ("prb" in named) == (profile == "linux-6.10") and ("mem_section" in named) == (profile == "linux-6.10")
    for name in named:
        assert symbols[name] == va(SYMBOLS[name]), name


def test_a_layout_that_differs_from_the_declaration_is_refused_by_the_compiler(tmp_path):
    """The _Static_assert lines are what keeps the DWARF honest: a shifted member does not build."""
    require_compiler(True)
    d = symbolfile.ImageDescription.of_profile("linux-6.10", True, "x")
    bad = dataclasses.replace(d, page_layout=dataclasses.replace(PAGE_6_10, size=48))
    with pytest.raises(RuntimeError, match="sizeof page"):
        symbolfile.build(bad, tmp_path / "vmlinux")


def test_struct_decl_puts_members_sharing_an_offset_in_a_union_and_pads_gaps():
    text = symbolfile.struct_decl("s", [(0, "int a", 4), (8, "long b", 8), (8, "long c", 8)], 24)
    assert "char __pad0[4];" in text and "union { long b; long c; };" in text and "char __pad1[8];" in text
