"""Paths a template names, as the recipe writes them.

Packer reads a relative path from the folder it runs in, which `bakery convert` takes to be the
project root (`-C`, or the current folder); `path.root` and `{{template_dir}}` are the template's
own folder. A path is kept where it is, relative to the recipe file (recipes name their files
that way); one that leads out of the project, by `..`, an absolute path elsewhere or a symbolic
link, is reported and never read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from bakery.convert.expressions import Result, failed


@dataclass(frozen=True)
class ProjectPaths:
    """Where the project lies and where the recipes go, to turn template paths into recipe ones.

    `root` is the project's absolute POSIX path; `recipe_folder` the project-relative folder of
    the recipe files; `outside(path)` says whether a project-relative path leads out of the
    project through a symbolic link (the command checks the file system).
    """

    root: str
    recipe_folder: str
    outside: Callable[[str], bool]

    def project(self, text: str) -> Result:
        """The project-relative path of `text` (as the template gives it), or why there is none;
        a trailing `/` (a folder's contents) is kept."""
        if not text:
            return failed("the path is empty")
        if "\\" in text:
            return failed("a path with backslashes (Windows) is not a path bakery reads")
        slash = text.endswith("/") and text != "/"
        if text.startswith("/"):
            root = self.root.rstrip("/")
            if not (text == root or text.startswith(root + "/")):
                return failed("the path is outside the project; it is not read")
            text = text[len(root) :].lstrip("/") or "."
        path = posixpath.normpath(text)
        if path == ".." or path.startswith("../"):
            return failed("the path leads out of the project; it is not read")
        if "((" not in path and path != "." and self.outside(path):
            return failed("the path leads out of the project through a symbolic link; not read")
        return Result(path + ("/" if slash and path != "." else ""))

    def for_recipe(self, project_path: str) -> str:
        """A project-relative path as a recipe in `recipe_folder` names it."""
        slash = project_path.endswith("/")
        relative = posixpath.relpath(project_path.rstrip("/") or ".", self.recipe_folder)
        return relative + ("/" if slash else "")

    def recipe_path(self, text: str) -> Result:
        """`project` and then `for_recipe`."""
        found = self.project(text)
        if not found.ok:
            return found
        return Result(self.for_recipe(str(found.value)), notes=found.notes)
