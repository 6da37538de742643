"""The views that observe a run (emulator.views.observers): the timeline, recorded from the event bus."""

from emulator.run.events import EventBus, Lifecycle
from emulator.views.observers import Timeline


def recorded(*events) -> list[dict]:
    bus, timeline = EventBus(), Timeline()
    timeline.observe(bus)
    for kind, fields in events:
        bus.publish(kind, **fields)
    return timeline.spans


def span(id, name, start, **args):
    return Lifecycle.SPAN, {"id": id, "name": name, "actor": "kernel 1", "start": start, "args": args}


def test_spans_keep_the_order_they_opened_in_and_take_their_end_and_arguments_when_they_end():
    spans = recorded(span(1, "boot 1", 0.0, cmdline="fadump=on"), span(2, "panic", 10.0),
                     (Lifecycle.SPAN_END, {"id": 1, "end": 10.5, "args": {"ended": "dumped"}}))
    assert spans == [{"name": "boot 1", "actor": "kernel 1", "start": 0.0, "end": 10.5,
                      "args": {"cmdline": "fadump=on", "ended": "dumped"}},
                     {"name": "panic", "actor": "kernel 1", "start": 10.0, "end": None, "args": {}}]


def test_a_span_that_never_ends_is_an_instant():
    assert recorded(span(1, "firmware preserves the partition", 30.0))[0]["end"] is None


def test_a_timeline_nobody_subscribed_records_nothing():
    bus, timeline = EventBus(), Timeline()
    kind, fields = span(1, "boot 1", 0.0)
    bus.publish(kind, **fields)
    assert timeline.spans == [] and not bus.wants(Lifecycle.SPAN)
