import numpy as np
import pytest

from core.space import beam_weights, mean_embeddings, nearest_clusters, normalize_rows, project


def test_project_gives_unit_vectors_in_the_reduced_space() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=8).astype(np.float32)
    components = np.linalg.qr(rng.normal(size=(8, 3)))[0].T.astype(np.float32)  # (3, 8)
    reduced = project(rng.normal(size=(5, 8)), mean, components)
    assert reduced.shape == (5, 3)
    np.testing.assert_allclose(np.linalg.norm(reduced, axis=1), 1.0, rtol=1e-5)


def test_nearest_clusters_matches_brute_force_order() -> None:
    rng = np.random.default_rng(1)
    centroids = normalize_rows(rng.normal(size=(40, 6)))
    vectors = normalize_rows(rng.normal(size=(30, 6)))
    got = nearest_clusters(vectors, centroids, 5)
    distances = ((vectors[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(got, np.argsort(distances, axis=1)[:, :5])


def test_nearest_clusters_clamps_count_to_the_number_of_centroids() -> None:
    centroids = np.eye(3, dtype=np.float32)
    got = nearest_clusters(np.array([0.9, 0.1, 0.0], dtype=np.float32), centroids, 10)
    assert got.shape == (1, 3)
    assert got[0, 0] == 0


def test_beam_weights_are_the_softmax_of_the_log_probabilities() -> None:
    weights = beam_weights(np.log(np.array([0.5, 0.3, 0.2])) - 7.0)  # any shift gives the same weights
    np.testing.assert_allclose(weights, [0.5, 0.3, 0.2])
    np.testing.assert_allclose(beam_weights(np.array([-1000.0, -1000.0])), [0.5, 0.5])  # no underflow


def test_beam_weights_refuse_missing_or_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="no caption scores"):
        beam_weights(np.array([]))
    with pytest.raises(ValueError, match="must be finite"):
        beam_weights(np.array([-0.5, -np.inf]))


def test_weighted_mean_embeddings_follow_the_weights_per_owner() -> None:
    east, north = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    embeddings = np.stack([east, north, east, north])  # (4, 2): owners 0, 0, 1, 1
    owners = np.array([0, 0, 1, 1])
    plain = mean_embeddings(embeddings, owners, 2)
    np.testing.assert_allclose(plain, [[0.7071068, 0.7071068]] * 2, rtol=1e-6)
    weighted = mean_embeddings(embeddings, owners, 2, np.array([0.75, 0.25, 0.25, 0.75]))
    np.testing.assert_allclose(weighted, normalize_rows(np.array([[3.0, 1.0], [1.0, 3.0]])), rtol=1e-6)
