from __future__ import annotations

import pytest

from bakery.convert.paths import ProjectPaths

PATHS = ProjectPaths("/project", "recipes/apps", lambda path: path == "link")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scripts/a.sh", "../../scripts/a.sh"),
        ("./files/etc/", "../../files/etc/"),
        ("/project/files/x", "../../files/x"),
        ("/project", "../.."),
        ("recipes/apps/x.sh", "x.sh"),
        ("", "the path is empty"),
        ("C:\\x", "a path with backslashes (Windows) is not a path bakery reads"),
        ("/projectx/a", "the path is outside the project; it is not read"),
        ("a/../../b", "the path leads out of the project; it is not read"),
        ("link", "the path leads out of the project through a symbolic link; not read"),
        ("((arch))/link", "../../((arch))/link"),
    ],
)
def test_a_template_path_as_the_recipe_names_it(text: str, expected: str) -> None:
    result = PATHS.recipe_path(text)
    assert (result.value if result.ok else result.problem) == expected
