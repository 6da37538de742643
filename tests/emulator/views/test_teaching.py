"""Tests for the teaching views: inspect, dmesg, the Chrome trace and the memory map pictures."""

import json
import struct

import pytest

from emulator.vmcore import dmesg
from emulator.vmcore import inspector
from emulator.views import memmap_view
from emulator.scenario import loader as scenario
from emulator.cli import main
from emulator.errors import BadInputError
from emulator.run.runner import run_scenario
from emulator.views import observers
from kernels import elfcore, printk
from kernels.structs import NT_PRSTATUS, PT_NOTE, PT_REGS_FIELDS_3_4, PT_REGS_FIELDS_6_10, kernel_structs
from tests.conftest import small_scenario_text


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One `run --trace --map` of the small 1 GiB Linux 3.4 scenario: (output folder, trace file, map folder)."""
    root = tmp_path_factory.mktemp("teaching")
    toml = root / "small.toml"
    toml.write_text(small_scenario_text())
    out, trace_file, maps = root / "out", root / "trace.json", root / "maps"
    assert main(["run", str(toml), "--out", str(out), "--quiet", "--trace", str(trace_file),
                 "--map", str(maps)]) == 0
    return out, trace_file, maps


def run_small(tmp_path, **kw):
    """Run a small scenario into tmp_path/out and return its RunResult."""
    toml = tmp_path / "s.toml"
    toml.write_text(small_scenario_text(**kw))
    return run_scenario(scenario.load(toml), str(tmp_path / "out"), observers=[observers.html_report])


def handmade_core(path, little_endian: bool) -> dict[str, int]:
    """Write a one-note ELF core whose NT_PRSTATUS holds known registers; return them by name."""
    ks = kernel_structs(little_endian, PT_REGS_FIELDS_3_4, 2048)
    order = "<" if little_endian else ">"
    regs = {name: 0x1111_0000_0000_0000 + i for i, name in enumerate(PT_REGS_FIELDS_3_4)}
    regs.update(nip=0xC000_0000_000A_5F10, link=0xC000_0000_000A_5E80, msr=0x8000_0000_0000_9033)
    desc = bytearray(504)                                   # struct elf_prstatus on ppc64
    struct.pack_into(order + "i", desc, 32, 4242)           # pr_pid
    struct.pack_into(order + "44Q", desc, 112, *regs.values())  # pr_reg[0..43], the 3.4 pt_regs slots
    notes = elfcore.note(ks, "CORE", NT_PRSTATUS, bytes(desc))
    notes += elfcore.note(ks, "VMCOREINFO", 0, b"OSRELEASE=3.4.0\nPAGESIZE=65536\n") + elfcore.FINAL_NOTE
    head = elfcore.ehdr(ks, 1) + elfcore.phdr(ks, PT_NOTE, p_offset=64 + 56, p_filesz=len(notes),
                                              p_memsz=len(notes))
    path.write_bytes(head + notes)
    return regs


@pytest.mark.parametrize("little_endian", [True, False], ids=["ppc64le", "ppc64"])
def test_the_inspector_decodes_a_prstatus_with_known_registers_in_the_kernels_byte_order(tmp_path, little_endian):
    """An NT_PRSTATUS built byte by byte decodes to its pid and every register under its pt_regs name."""
    regs = handmade_core(tmp_path / "core", little_endian)
    core = inspector.decode_vmcore(str(tmp_path / "core"))
    prstatus, info = core["notes"]
    assert core["elf_header"]["type"] == "CORE"
    assert core["elf_header"]["data"].endswith("little endian" if little_endian else "big endian")
    assert prstatus["type_name"] == "NT_PRSTATUS" and prstatus["pid"] == 4242
    assert prstatus["registers"]["nip"] == "0xc0000000000a5f10"
    assert {k: int(v, 16) for k, v in prstatus["registers"].items() if k in regs} == regs
    assert prstatus["registers"]["pr_reg[47]"] == "0x0000000000000000"
    assert info["vmcoreinfo"] == {"OSRELEASE": "3.4.0", "PAGESIZE": "65536"}


def test_the_inspector_names_48_registers_for_a_modern_kernel(tmp_path):
    """Without a 3.x OSRELEASE the four slots after result are named ppr, exit_result, kuap and iamr."""
    handmade_core(tmp_path / "core", True)
    raw = (tmp_path / "core").read_bytes().replace(b"OSRELEASE=3.4.0", b"OSRELEASE=6.1.0")
    (tmp_path / "core").write_bytes(raw)
    names = list(inspector.decode_vmcore(str(tmp_path / "core"))["notes"][0]["registers"])
    assert names == list(PT_REGS_FIELDS_6_10)


def test_the_inspector_decodes_the_ibm_kernel_dump_a_run_left_in_the_device_tree(run_dir):
    """The capture boot's ibm,kernel-dump shows a performed dump: CPU state, HPTE and boot memory, all dumped."""
    out, _, _ = run_dir
    data = inspector.inspect_path(str(out), ("kernel-dump",))
    (dump,) = data["kernel_dumps"]
    assert dump["boot"] == 2 and dump["size"] == 160
    assert dump["header"]["dump_status"] == ["PERFORMED", "TRIGGERED"]
    assert [s["type_name"] for s in dump["sections"]] == ["CPU_STATE_DATA", "HPTE_REGION", "REAL_MODE_REGION"]
    rmr = dump["sections"][2]
    assert rmr["source_address"] == "0x0" and rmr["bytes_dumped"] == rmr["source_len"] == "0x14000000"
    assert f"to {rmr['destination_address']}" in (out / "console.log").read_text()
    assert all(not s["errors"] for s in dump["sections"])


def test_inspect_prints_json_with_one_prstatus_per_cpu_and_the_vmcoreinfo(run_dir, capsys):
    """`inspect DIR --json` decodes the run's vmcore: two PT_LOADs, four CPU notes and VMCOREINFO keys."""
    out, _, _ = run_dir
    assert main(["inspect", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (core,) = data["vmcores"]
    assert [ph["type"] for ph in core["program_headers"]] == ["NOTE", "LOAD", "LOAD"]
    cpus = [n for n in core["notes"] if n["type_name"] == "NT_PRSTATUS"]
    assert len(cpus) == 4
    assert cpus[1]["registers"]["nip"] == "0xc0000000000a5f10"  # CPU 1 crashed with the scenario's nip
    info = next(n["vmcoreinfo"] for n in core["notes"] if n["owner"] == "VMCOREINFO")
    assert info["OSRELEASE"] == "3.4.0-fadump-emu" and "SYMBOL(log_buf)" in info


def test_inspect_prints_tables_by_default(run_dir, capsys):
    """Without --json the structures come out as tables naming the ELF header, the notes and the sections."""
    out, _, _ = run_dir
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    for needle in ("ELF header", "Program headers", "NT_PRSTATUS", "OSRELEASE", "REAL_MODE_REGION"):
        assert needle in text


@pytest.mark.parametrize("content", [b"not an ELF file", b"\x7fELF\x02\x01\x01" + bytes(20)], ids=["text", "short"])
def test_inspect_and_dmesg_reject_bad_input_with_one_line(tmp_path, capsys, content):
    """A file that is not a whole vmcore gives exit status 2 and a one-line message, no traceback."""
    bad = tmp_path / "bad"
    bad.write_bytes(content)
    for command in ("inspect", "dmesg"):
        assert main([command, str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"fadump-emu: {bad}: ") and err.count("\n") == 1 and "Traceback" not in err


def test_inspect_rejects_a_folder_without_a_run(tmp_path):
    """A folder with neither a vmcore nor a boot-N device tree is refused with what to give instead."""
    with pytest.raises(BadInputError, match="folder written by `fadump-emu run --out`"):
        inspector.inspect_path(str(tmp_path))


def test_dmesg_of_a_3_4_run_returns_the_lines_the_first_kernel_printed_up_to_the_panic(tmp_path):
    """The plain 3.4 ring, read through VMCOREINFO and the PT_LOADs, holds exactly the first kernel's printk lines."""
    result = run_small(tmp_path)
    printed = [line.render() for line in result.partition.console.lines if line.source == "kernel1"]
    assert dmesg.recover(str(tmp_path / "out" / "vmcore")) == printed
    assert printed[-1].endswith("Kernel panic - not syncing: fadump-emu: scripted crash")


def test_dmesg_of_a_modern_run_reads_the_lockless_ring_buffer(tmp_path):
    """A 6.10 vmcore's log comes back through SYMBOL(prb) with the first kernel's lines."""
    text = small_scenario_text(memory="2GiB", kernel_extra='profile = "linux-6.10"').replace("0x18000000", "0x50000000")
    (tmp_path / "s.toml").write_text(text)
    result = run_scenario(scenario.load(tmp_path / "s.toml"), str(tmp_path / "out"))
    printed = [line.render() for line in result.partition.console.lines if line.source == "kernel1"]
    assert dmesg.recover(str(tmp_path / "out" / "vmcore")) == printed


def test_dmesg_says_when_no_reader_exists_for_the_log_format(tmp_path, monkeypatch, capsys):
    """Without kernels.printk.read_prb a modern dump's log is refused with one clear line and exit status 1."""
    text = small_scenario_text(memory="2GiB", kernel_extra='profile = "linux-6.10"').replace("0x18000000", "0x50000000")
    (tmp_path / "s.toml").write_text(text)
    run_scenario(scenario.load(tmp_path / "s.toml"), str(tmp_path / "out"))
    monkeypatch.delattr(printk, "read_prb")
    assert main(["dmesg", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "lockless printk ring buffer (SYMBOL(prb))" in err and "cannot read that format yet" in err


def test_the_trace_loads_as_json_with_one_track_per_actor(run_dir):
    """The trace has named tracks for both kernels, every CPU, PHYP, RTAS and kdump, under one pid."""
    _, trace_file, _ = run_dir
    with open(trace_file) as f:
        events = json.load(f)["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(names.values()) == sorted(["kernel 1", "kernel 2", "cpu 0", "cpu 1", "cpu 2", "cpu 3", "PHYP",
                                             "RTAS", "kdump"])
    assert {e["pid"] for e in events} == {1}
    assert any(e["name"] == "process_name" for e in events)
    tid = {name: t for t, name in names.items()}
    spans = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 for e in spans)
    assert {names[e["tid"]] for e in spans} >= {"kernel 1", "kernel 2", "PHYP", "kdump"}
    rtas = [e["name"] for e in events if e.get("tid") == tid["RTAS"] and e["ph"] == "i"]
    assert rtas[:2] == ["ibm,configure-kernel-dump REGISTER", "ibm,os-term"]
    panic = next(e for e in events if e["ph"] == "i" and "Kernel panic" in e["name"])
    assert panic["tid"] == tid["kernel 1"] and panic["ts"] == 10_000_000
    assert panic["args"]["text"].startswith("Kernel panic - not syncing")


def test_the_memory_map_is_saved_as_non_empty_svg_and_png_at_three_moments(run_dir):
    """--map writes one SVG and one PNG per moment, plus all moments side by side and the data as JSON."""
    _, _, maps = run_dir
    for stem in ("memmap-1-before-crash", "memmap-2-after-preservation", "memmap-3-capture-kernel", "memmap"):
        png, svg = maps / f"{stem}.png", maps / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert svg.stat().st_size > 1000 and "<svg" in svg.read_text()
    svg = (maps / "memmap-2-after-preservation.svg").read_text()
    for label in ("CPU state data", "HPTE region", "boot-memory copy", "crash info header FADMPINF",
                  "ELF core header", "elfcorehdr_addr", "PT_LOAD 0"):
        assert label in svg
    moments = [m["moment"] for m in json.loads((maps / "memmap.json").read_text())]
    assert moments == [memmap_view.BEFORE_CRASH, memmap_view.AFTER_PRESERVATION, memmap_view.CAPTURE]


def test_the_memory_map_snapshots_follow_the_dump_through_its_lifecycle(tmp_path):
    """Before the crash the copy is empty; afterwards firmware filled it; the capture kernel exports the PT_LOADs."""
    result = run_small(tmp_path)
    before, after, capture = result.snapshots_for_map
    label = {s.moment: {r.kind: r.label for r in s.regions} for s in (before, after, capture)}
    assert "empty until the crash" in label[before.moment]["copy"]
    assert "320 MiB dumped" in label[after.moment]["copy"]
    fdh = next(r for r in before.regions if r.kind == "fdh")
    elf = next(r for r in before.regions if r.kind == "elf")
    assert (fdh.start, elf.start) in [(a[0], a[2]) for a in before.arrows]  # elfcorehdr_addr points at it
    assert elf.start == fdh.end
    assert [(ld["paddr"], ld["size"]) for ld in capture.loads] == [(ld["paddr"], ld["size"]) for ld in before.loads]
    assert capture.loads[0]["source"] == next(r for r in after.regions if r.kind == "copy").start
