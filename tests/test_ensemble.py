"""n_models: several autoencoders in one Keras model, scored by the mean of their errors."""

from __future__ import annotations

import aeutil
from aeutil.model import dense_chains

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

COLUMNS = ["feature1", "feature2"]


@pytest.fixture(scope="module")
def ensemble(clusters) -> aeutil.AutoEncoderUtil:
    return aeutil.AutoEncoderUtil(df=clusters, seed=3, n_models=3).fit(COLUMNS, epochs=20, batch_size=16)


def test_members_are_separate_networks_with_their_own_weights(ensemble):
    chains = dense_chains(ensemble.model)
    assert len(chains) == 3
    assert [layer.name for layer in chains[1]] == [
        "member1_encoder_0", "member1_code", "member1_decoder_0", "member1_reconstruction"
    ]
    first = [layer.get_weights()[0] for layer in chains[0]]
    second = [layer.get_weights()[0] for layer in chains[1]]
    assert all(a.shape == b.shape and not np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_score_is_the_mean_of_the_members_errors(ensemble, clusters):
    X = clusters[COLUMNS].to_numpy(np.float32)
    scores = ensemble.reconstruction_error(X)
    std = ensemble.model.get_layer("standardize")
    z = (X - std.mean) / std.scale
    members = []
    for chain in dense_chains(ensemble.model):
        h = z
        for layer in chain:
            h = np.asarray(layer(h))
        members.append(((h - z) ** 2).mean(axis=1))
    np.testing.assert_allclose(scores, np.mean(members, axis=0), rtol=1e-5, atol=1e-8)
    # the Keras model computes the same (the NumPy scorer is only a faster route)
    np.testing.assert_allclose(scores, np.asarray(ensemble.model(X)), rtol=1e-5, atol=1e-8)


def test_ensemble_round_trips_through_one_file(ensemble, clusters, tmp_path):
    path = tmp_path / "ensemble.keras"
    ensemble.save_model(path)
    loaded = aeutil.AutoEncoderUtil(model_path=path)
    assert loaded.n_models == 3
    assert loaded.predict(COLUMNS, df=clusters)[1].tobytes() == ensemble.predict(COLUMNS)[1].tobytes()
    detector = aeutil.AutoEncoderDetector.load(path)
    assert (detector.n_models, detector.hidden_units, detector.encoding_dim) == (3, (8,), 4)


def test_same_seed_gives_the_same_ensemble(ensemble, clusters):
    again = aeutil.AutoEncoderUtil(df=clusters, seed=3, n_models=3).fit(COLUMNS, epochs=20, batch_size=16)
    assert again.predict(COLUMNS)[1].tobytes() == ensemble.predict(COLUMNS)[1].tobytes()


def test_n_models_is_a_scikit_learn_parameter():
    detector = aeutil.AutoEncoderDetector(n_models=4)
    assert clone(detector).get_params()["n_models"] == 4


@pytest.mark.parametrize("bad", [0, -2])
def test_bad_n_models_is_refused_in_japanese(clusters, bad):
    util = aeutil.AutoEncoderUtil(df=clusters, n_models=bad)
    with pytest.raises(aeutil.InvalidDataError, match="n_models は 1 以上"):
        util.fit(COLUMNS, epochs=1)
    assert util.model is None


def test_an_ensemble_varies_less_from_seed_to_seed_than_one_model():
    """The reason for n_models: one model's quality is partly a lottery over seeds."""
    train = aeutil.make_three_clusters(seed=0)[COLUMNS]
    normal = aeutil.make_three_clusters(seed=1)[COLUMNS]
    far = aeutil.make_three_clusters(n_per_cluster=0, n_outliers=15, seed=2)[COLUMNS]
    test = np.vstack([normal, far])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(far))]

    def auc(n_models: int, seed: int) -> float:
        detector = aeutil.AutoEncoderDetector(seed=seed, n_models=n_models).fit(train)
        return roc_auc_score(labels, -detector.score_samples(test))

    single = [auc(1, seed) for seed in range(5)]
    ensemble = [auc(5, seed) for seed in range(5)]
    assert np.std(ensemble) < np.std(single)
    assert min(ensemble) > min(single)


def test_reconstruct_gives_each_members_reconstruction_in_original_units(ensemble, clusters):
    """reconstruct = each member's reconstruction layer, un-standardised; the score is the mean
    of the members' standardised squared errors (not the error of the mean reconstruction)."""
    from aeutil._keras import keras

    X = clusters[COLUMNS].to_numpy(np.float32)[:50] * 3  # some rows outside the training range
    detector = ensemble.detector
    each = detector.reconstruct(X)
    assert each.shape == (3, 50, 2) and each.dtype == np.float32
    model = detector.model_
    std = model.get_layer("standardize")
    names = [f"member{j}_reconstruction" for j in range(3)]
    keras_each = keras.Model(model.input, [model.get_layer(n).output for n in names])(X)
    for mine, theirs in zip(each, keras_each, strict=True):
        np.testing.assert_allclose(mine, np.asarray(theirs) * std.scale + std.mean, rtol=1e-5, atol=1e-5)
    errors = (((each - X) / std.scale) ** 2).mean(axis=2).mean(axis=0)
    np.testing.assert_allclose(errors, detector.reconstruction_error(X), rtol=1e-4)


def test_structure_names_one_members_layers(ensemble, clusters):
    assert ensemble.detector.structure_ == "8-4-8"
    single = aeutil.AutoEncoderDetector(hidden_units=(6, 5), encoding_dim=1, n_models=1, epochs=1)
    with pytest.raises(aeutil.NotFittedError):
        single.structure_  # noqa: B018
    single.fit(clusters[COLUMNS])
    assert single.structure_ == "6-5-1-5-6"
    assert single.reconstruct(clusters[COLUMNS][:4]).shape == (1, 4, 2)
