"""Reading makedumpfile's answer (emulator.host.makedumpfile_verdict.parse); the runs themselves are in make reference."""

from emulator.host import makedumpfile_verdict as mv

FAILED_1_7_2 = """The kernel version is not supported.
The makedumpfile operation may be incomplete.
readmem: type_addr: 0, addr:c00c000000000000, size:3584
__exclude_unnecessary_pages: Can't read the buffer of struct page.
create_2nd_bitmap: Can't exclude unnecessary pages.

makedumpfile Failed.
"""

REPORT = """Copying data                                      : [100.0 %] |
The dumpfile is saved to out.

Original pages  : 0x0000000000005fff
  Excluded pages   : 0x0000000000005e0c
    Free pages             : 0x0000000000005c25
  Remaining pages  : 0x00000000000001f3
  (The number of pages is reduced to 2%.)
makedumpfile Completed.
"""


def test_a_failure_keeps_its_reason_lines():
    v = mv.parse(1, FAILED_1_7_2)
    assert not v["ok"] and v["exit"] == 1
    assert "__exclude_unnecessary_pages: Can't read the buffer of struct page." in v["key_lines"]
    assert "makedumpfile Failed." in v["key_lines"]


def test_the_page_report_is_read_as_numbers():
    v = mv.parse(0, REPORT)
    assert v["ok"]
    assert v["pages"] == {"Original pages": 0x5fff, "Excluded pages": 0x5e0c, "Free pages": 0x5c25,
                          "Remaining pages": 0x1f3}
    assert "The dumpfile is saved to out." in v["key_lines"]
