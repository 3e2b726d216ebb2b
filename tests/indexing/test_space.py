import numpy as np

from indexing.space import nearest_clusters, normalize_rows, project


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
