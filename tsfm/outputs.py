"""Writing results without losing anything: temporary names, atomic moves, guarded folders.

Every file a command writes goes to a temporary name beside its final place and is moved
there only when complete (``os.replace`` is atomic on one file system), so a killed run or a
full disk never leaves a truncated file where a good one was. Output folders are staged the
same way and carry a small marker naming the kind of run that wrote them: a folder of another
kind, or one holding files that no run of ours wrote, is refused unless ``overwrite=True``,
and a re-run replaces the whole folder, so stale files never mix with new ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from tsfm.errors import InputError

MARKER = ".tsfm-run.json"
TABLE_SUFFIXES = (".csv", ".parquet")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (after resolving links and ``..``)."""
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return os.path.samefile(pa, pb)
    return pa.resolve() == pb.resolve()


def check_not_input(output: str | os.PathLike, inputs: Iterable[object], flag: str = "--output") -> None:
    """Refuse an output that is one of the inputs, or a folder that holds one of them.

    Inputs that are not existing paths (model names, ``aeon:`` sources, ``None``) are skipped.
    """
    out = Path(output).expanduser().resolve()
    for source in inputs:
        if not isinstance(source, (str, os.PathLike)) or str(source).startswith(("aeon:", "hf:", "m4:")):
            continue
        if not str(source).strip() or not Path(source).expanduser().exists():
            continue
        src = Path(source).expanduser().resolve()
        if same_file(out, src) or out in src.parents:
            raise InputError(f"{flag} {str(output)!r} would overwrite the input {str(source)!r}; choose another path")


def check_file_target(path: str | os.PathLike, flag: str = "--output") -> Path:
    """A path a file can be written to: not a folder, its parent a folder (created if missing)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{flag} {str(path)!r} is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise InputError(f"{flag} {str(path)!r} exists and is not a regular file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {str(path)!r}: cannot create its folder ({exc.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise InputError(f"{flag} {str(path)!r}: the folder {str(parent)!r} is not writable")
    return path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, flag: str = "--output") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    On any error the temporary file is removed and ``path`` keeps its earlier content.
    """
    path = check_file_target(path, flag)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise InputError(
            f"{flag} {str(path)!r} could not be written ({exc.strerror or exc}); nothing was changed"
        ) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike, inputs: Iterable[object] = (), flag: str = "--output"
) -> Path:
    """Write ``frame`` to a ``.csv`` or ``.parquet`` file atomically, never over one of ``inputs``."""
    path = Path(path).expanduser()
    if path.suffix not in TABLE_SUFFIXES:
        raise InputError(f"{flag} must end in .csv or .parquet, got {str(path)!r}")
    check_not_input(path, inputs, flag)
    with atomic_file(path, flag) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return path


def save_figure(fig, path: str | os.PathLike, flag: str = "--plot", **kwargs) -> Path:
    """Save a matplotlib figure atomically (the format follows the suffix)."""
    path = Path(path).expanduser()
    with atomic_file(path, flag) as tmp:
        fig.savefig(tmp, format=(path.suffix.lstrip(".") or "png"), **kwargs)
    return path


def write_text(text: str, path: str | os.PathLike, flag: str = "--output") -> Path:
    """Write UTF-8 text atomically."""
    with atomic_file(path, flag) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path).expanduser()


def write_json(payload: object, path: str | os.PathLike, flag: str = "--output") -> Path:
    """Write JSON atomically (indented, keys in the order given)."""
    return write_text(json.dumps(payload, indent=2) + "\n", path, flag)


def check_table_output(
    path: str | os.PathLike, inputs: Iterable[object] = (), flag: str = "--output",
    suffixes: Sequence[str] = TABLE_SUFFIXES,
) -> Path:
    """Check, before any work is done, that a table can be written at ``path``.

    The suffix must be one of ``suffixes``, the path must not be one of ``inputs``, must not
    be a folder, and its folder must be creatable and writable.
    """
    path = Path(path).expanduser()
    if path.suffix not in suffixes:
        raise InputError(f"{flag} must end in {' or '.join(suffixes)}, got {str(path)!r}")
    check_not_input(path, inputs, flag)
    return check_file_target(path, flag)


def check_folder_output(
    folder: str | os.PathLike, kind: str, overwrite: bool = False, inputs: Iterable[object] = (),
    flag: str = "--output",
) -> Path:
    """Check, before any work is done, that a run of ``kind`` may write the folder ``folder``.

    It must not be nor hold one of ``inputs``, must not sit under a file, and must be missing,
    empty, or from an earlier run of ``kind`` (any folder with ``overwrite``).
    """
    folder = Path(folder).expanduser()
    check_not_input(folder, inputs, flag)
    above = next((p for p in folder.absolute().parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise InputError(f"{flag} {str(folder)!r}: {str(above)!r} is a file, not a folder")
    return check_output_folder(folder, kind, overwrite, flag)


def mark_folder(folder: str | os.PathLike, kind: str) -> Path:
    """Create ``folder`` if needed and write the marker naming ``kind`` into it.

    For runs that keep a cache in their output folder while they work (``tsfm distill``):
    the marked folder is recognised as theirs when the run is repeated after a kill.
    """
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"kind": kind}) + "\n", encoding="utf-8")
    return folder


def folder_kind(folder: str | os.PathLike) -> str | None:
    """The kind of run named in ``folder``'s marker; ``None`` without a readable marker."""
    marker = Path(folder).expanduser() / MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def check_output_folder(folder: str | os.PathLike, kind: str, overwrite: bool = False, flag: str = "--output") -> Path:
    """Check that ``folder`` may receive a run of ``kind``; raise before any work is done.

    Allowed: a missing or empty folder, or one written by an earlier run of the same kind.
    Anything else (a file, a folder of another kind of run, a folder with files of unknown
    origin) is refused unless ``overwrite``.
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag} {str(folder)!r} is a file; give a folder")
    if not folder.exists() or not any(folder.iterdir()):
        return folder
    previous = folder_kind(folder)
    if previous == kind or overwrite:
        return folder
    what = f"the results of a '{previous}' run" if previous else "files that no tsfm run of this kind wrote"
    raise InputError(
        f"{flag} {str(folder)!r} already holds {what}; choose an empty folder or pass --overwrite to replace it"
    )


@contextlib.contextmanager
def staged_folder(
    folder: str | os.PathLike, kind: str, overwrite: bool = False, flag: str = "--output"
) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``folder`` whole.

    The staging folder sits beside ``folder``; the marker naming ``kind`` is added to it.
    On error it is removed and ``folder`` is left as it was. On success the earlier
    ``folder`` (same kind, or any kind with ``overwrite``) is swapped out and deleted, so no
    file of an earlier run survives beside the new ones.
    """
    folder = check_output_folder(folder, kind, overwrite, flag)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".staging", dir=folder.parent))
    except OSError as exc:
        raise InputError(f"{flag} {str(folder)!r} cannot be created ({exc.strerror or exc})") from None
    try:
        yield stage
        try:
            (stage / MARKER).write_text(json.dumps({"kind": kind}) + "\n", encoding="utf-8")
            replace_folder(stage, folder)
        except OSError as exc:
            raise InputError(
                f"{flag} {str(folder)!r} could not be written ({exc.strerror or exc}); nothing was changed"
            ) from exc
    except InputError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if str(stage) not in str(exc):
            raise
        # a file of the stage could not be written: name its final place, not the hidden stage
        raise InputError(str(exc).replace(str(stage), str(folder))) from exc.__cause__
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def replace_folder(new: Path, final: Path, aside: Path | None = None) -> None:
    """Move the complete folder ``new`` onto ``final``, keeping the earlier ``final`` until it is in place.

    An existing ``final`` is first renamed to ``aside`` (default: a hidden name beside it), and
    deleted only once ``new`` has taken its place, so a kill at any moment leaves either folder
    whole; a failed move puts the earlier one back. Checkpoint writers pass a fixed ``aside``
    (``checkpoint.old``) so that a resume can find it after such a kill.
    """
    aside = aside if aside is not None else final.with_name(f".{final.name}.old-{os.getpid()}")
    had_final = final.exists()
    if had_final:
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(final, aside)
    try:
        os.replace(new, final)
    except OSError:
        if had_final:
            os.replace(aside, final)
        raise
    if had_final:
        shutil.rmtree(aside, ignore_errors=True)
