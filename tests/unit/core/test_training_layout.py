"""Sharding arithmetic of the training stage: shards of the configured size in run order, batches
carved inside them (never across two), and a run reusing another run's models batched by that
run's shards."""

from skucast.services.training import plain_layout, reused_layout, sharded_layout

SKUS = [f"S{i:03d}" for i in range(95)]


def test_given_95_skus_in_shards_of_40_and_batches_of_15_then_each_shard_is_cut_into_its_own_batches():
    layout = sharded_layout(SKUS, batch_size=15, shard_size=40)
    assert [(s.shard_id, s.first_batch, s.batches, s.skus) for s in layout.shards] == [
        ("s00000", 0, 3, 40),  # 15 + 15 + 10
        ("s00001", 3, 3, 40),
        ("s00002", 6, 1, 15),
    ]
    assert [len(b) for b in layout.batches] == [15, 15, 10, 15, 15, 10, 15]
    assert layout.batch_shards == ["s00000"] * 3 + ["s00001"] * 3 + ["s00002"]
    # Every SKU once, in run order; a batch's SKUs all belong to its shard.
    assert [s for b in layout.batches for s in b] == SKUS
    for batch, shard in zip(layout.batches, layout.batch_shards, strict=True):
        assert {layout.shard_map[s] for s in batch} == {shard}
    # A shard's batches are the contiguous range its record names.
    for shard in layout.shards:
        members = layout.batches[shard.first_batch : shard.first_batch + shard.batches]
        assert sum(len(b) for b in members) == shard.skus


def test_given_a_shard_size_larger_than_the_run_then_one_shard():
    layout = sharded_layout(SKUS[:7], batch_size=40, shard_size=2000)
    assert len(layout.shards) == 1 and layout.batches == [SKUS[:7]]


def test_given_no_global_model_then_plain_batches_without_shards():
    layout = plain_layout(SKUS, 40)
    assert [len(b) for b in layout.batches] == [40, 40, 15]
    assert layout.batch_shards == [None, None, None] and layout.shards == [] and layout.shard_map == {}


def test_given_a_run_reusing_models_then_its_skus_are_batched_by_the_base_runs_shards():
    base = sharded_layout(SKUS[:50], batch_size=40, shard_size=20).shard_map
    # The reusing run asks for SKUs in another order, and some the base never trained.
    skus = [*reversed(SKUS[:50]), "NEW-1", "NEW-2"]
    layout = reused_layout(skus, base, batch_size=15)
    assert layout.shards == []  # nothing to train
    assert layout.batch_shards == ["s00000", "s00000", "s00001", "s00001", "s00002", None]
    for batch, shard in zip(layout.batches, layout.batch_shards, strict=True):
        assert {base.get(s) for s in batch} == {shard}
    assert sorted(s for b in layout.batches for s in b) == sorted(skus)
