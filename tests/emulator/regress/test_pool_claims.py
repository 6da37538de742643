"""Tests for pool_claims: how each worker of the local pool picks the scenario it runs next."""

import multiprocessing
import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.regress.pool_claims import TAIL_PER_WORKER, Claims, affinity_key
from emulator.scenario import loader
from tests.conftest import small_scenario_text


def shared(n: int, workers: int, order: list[int], keys: list):
    """The pool's shared state for ``n`` tasks, and one Claims per worker over it."""
    taken = multiprocessing.Array("b", n, lock=False)
    left = multiprocessing.Value("q", n, lock=False)
    lock = multiprocessing.Lock()
    return taken, left, [Claims(order, keys, taken, left, lock, workers) for _ in range(workers)]


def test_a_worker_starts_with_the_longest_task_then_stays_with_its_key():
    """Dispatch order is 0..9 (longest first); keys alternate in pairs. Worker A takes 0 (key a), then the next
    key-a task, 4, before the longer 1, 2 and 3: B takes 1 (b) and then 5 (b)."""
    keys = ["a", "b", "c", "d", "a", "b", "c", "d", "c", "d"]
    _, _, (a, b) = shared(10, 2, list(range(10)), keys)
    assert [a.claim(), b.claim(), a.claim(), b.claim()] == [0, 1, 4, 5]


def test_with_no_task_of_its_key_left_a_worker_takes_the_longest_left():
    keys = ["a", "b", "b", "b", "b", "b", "b"]
    _, _, (a, b) = shared(7, 2, list(range(7)), keys)
    assert [a.claim(), b.claim(), a.claim()] == [0, 1, 2]
    assert a.last == "b"


def test_the_last_tasks_go_longest_first_whatever_the_key():
    """Once no more than TAIL_PER_WORKER tasks per worker are left, a worker no longer looks for its key."""
    n = 2 * TAIL_PER_WORKER + 2
    keys = ["a"] + ["b"] * (n - 2) + ["a"]
    _, _, (a, b) = shared(n, 2, list(range(n)), keys)
    a.claim()  # 0, key a: n - 1 left, more than the tail
    assert a.claim() == n - 1  # its key's other task, though it is the shortest
    _, _, (a, b) = shared(n, 2, list(range(n)), keys)
    a.claim()
    b.claim()  # n - 2 left: the tail
    assert a.claim() == 2  # the longest left, not the key-a task n - 1


def test_a_task_whose_file_cannot_be_read_has_no_key_and_is_taken_in_dispatch_order():
    keys = [None, "a", None, "a"]
    _, _, (a,) = shared(4, 1, [0, 1, 2, 3], keys)
    assert [a.claim() for _ in range(5)] == [0, 1, 2, 3, None]


def test_a_claimed_task_is_marked_taken_and_counted_off():
    taken, left, (a,) = shared(3, 1, [2, 0, 1], ["x", "y", "x"])
    assert a.claim() == 2
    assert list(taken) == [0, 0, 1] and left.value == 2


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=40),
       workers=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_workers_claiming_in_any_interleaving_take_every_task_exactly_once(keys, workers, seed):
    rng = random.Random(seed)
    order = list(range(len(keys)))
    rng.shuffle(order)
    _, left, claims = shared(len(keys), workers, order, keys)
    got = []
    while True:
        i = rng.choice(claims).claim()
        if i is None:
            break
        got.append(i)
    assert sorted(got) == list(range(len(keys))) and left.value == 0
    assert all(c.claim() is None for c in claims)


def test_claims_under_one_lock_never_hand_one_task_to_two_threads():
    """The lock is what makes a claim atomic: four threads hammering one pool's claims take 2,000 tasks once each."""
    n = 2000
    _, _, claims = shared(n, 4, list(range(n)), [str(i % 7) for i in range(n)])
    got: list[list[int]] = [[] for _ in claims]

    def work(c, out):
        while (i := c.claim()) is not None:
            out.append(i)

    threads = [threading.Thread(target=work, args=(c, out)) for c, out in zip(claims, got)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for out in got for i in out]
    assert len(flat) == n and set(flat) == set(range(n))


def test_scenarios_share_a_key_when_they_have_the_same_partition_size_and_kernel_profile():
    """What decides where a run's kernels, struct pages and scratch land in host memory; the CPU count does not
    move them."""
    base = affinity_key(loader.loads(small_scenario_text(name="s")))
    assert affinity_key(loader.loads(small_scenario_text(name="t", cpus=2, crash_cpu=0))) == base
    assert affinity_key(loader.loads(small_scenario_text(name="s", memory="2GiB"))) != base
    other = loader.loads(small_scenario_text(name="s", kernel_extra='profile = "linux-6.10"'))
    assert other.kernel.profile == "linux-6.10" and affinity_key(other) != base
