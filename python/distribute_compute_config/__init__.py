"""Write batch files for ``distribute`` from Python.

The functions and arguments of the original distribute's package (``metadata``, ``file``,
``initialize``, ``job``, ``description``, ``apptainer_config``, ``slurm``,
``write_config_to_file``) write the file that package wrote, every unset option as ``~``;
sweep scripts written for it run unchanged. Added here: python batches (``python_initialize``,
``python_job``, ``python_config``), shell batches (``shell_initialize``, ``shell_job``,
``shell_config``), ``resources`` (``cpus="all"``: the whole node, as the original ran jobs),
``parameters`` for sweeps, and the Slurm keys of this distribute.

Example::

    import distribute_compute_config as distribute

    meta = distribute.metadata("cfd", "re_sweep", ["apptainer"], resources=distribute.resources(cpus="all"))
    init = distribute.initialize(distribute.file("solver.sif", relative=True), [], ["/output"])
    jobs = [distribute.job(f"re_{re}", [distribute.file(f"re_{re}.json", relative=True, alias="config.json")]) for re in (100, 200)]
    distribute.write_config_to_file(distribute.apptainer_config(meta, distribute.description(init, jobs)), "distribute-jobs.yaml")
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ._yaml import dump

__all__ = [
    "File", "Meta", "Slurm", "Resources", "Initialize", "PythonInitialize", "ShellInitialize",
    "Job", "PythonJob", "ShellJob", "Description", "ApptainerConfig", "PythonConfig", "ShellConfig",
    "metadata", "file", "initialize", "job", "description", "slurm", "resources", "apptainer_config",
    "python_initialize", "python_job", "python_description", "python_config",
    "shell_initialize", "shell_job", "shell_description", "shell_config",
    "apptainer_finalize", "python_finalize", "shell_finalize",
    "write_config_to_file", "to_yaml",
]

Scalar = Union[str, int, float, bool]


@dataclass
class File:
    """A file sent with the batch: ``path`` on this machine, ``alias`` its name on the node (None: its own name)."""

    path: str
    alias: Optional[str] = None

    def _doc(self) -> Dict[str, Any]:
        return {"path": self.path, "alias": self.alias}


@dataclass
class Resources:
    """What a job needs: ``cpus`` (a number, or ``"all"`` for the whole node), ``memory`` ("8G"), ``gpus``, ``time`` ("2h")."""

    cpus: Union[int, str, None] = None
    memory: Union[str, int, None] = None
    gpus: Optional[int] = None
    time: Union[str, int, None] = None

    def _doc(self) -> Dict[str, Any]:
        return {k: v for k, v in (("cpus", self.cpus), ("memory", self.memory), ("gpus", self.gpus), ("time", self.time)) if v is not None}


_SLURM_ORIGINAL = ("job_name", "output", "nodes", "ntasks", "cpus_per_task", "mem_per_cpu", "hint", "time", "partition", "account", "mail_user", "mail_type")
_SLURM_ADDED = ("qos", "gres", "mem", "constraint", "array_limit", "extra_directives", "setup")


@dataclass
class Slurm:
    """Slurm settings for ``distribute slurm``; every field optional. A job's block overrides the batch's field by field."""

    values: Dict[str, Any] = field(default_factory=dict)

    def _doc(self) -> Dict[str, Any]:
        # the original's twelve keys always, unset ones as ~; this distribute's keys only when set
        doc: Dict[str, Any] = {k: self.values.get(k) for k in _SLURM_ORIGINAL}
        doc.update({k: self.values[k] for k in _SLURM_ADDED if self.values.get(k) is not None})
        return doc


@dataclass
class Meta:
    """The batch's ``meta:`` section."""

    namespace: str
    batch_name: str
    capabilities: List[str]
    matrix: Optional[str] = None
    resources: Optional[Resources] = None
    priority: Optional[int] = None
    retries: Optional[int] = None
    nodes: Optional[List[str]] = None

    def _doc(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"batch_name": self.batch_name, "namespace": self.namespace, "matrix": self.matrix, "capabilities": list(self.capabilities)}
        if self.resources is not None:
            doc["resources"] = self.resources._doc()
        for key in ("priority", "retries", "nodes"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc


@dataclass
class _JobExtras:
    """What this distribute adds to a job of any kind."""

    resources: Optional[Resources] = None
    parameters: Optional[Mapping[str, Sequence[Scalar]]] = None
    parameter_mode: Optional[str] = None
    nodes: Optional[List[str]] = None
    retries: Optional[int] = None
    after: Optional[List[str]] = None

    def _doc(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {}
        if self.resources is not None:
            doc["resources"] = self.resources._doc()
        if self.parameters is not None:
            doc["parameters"] = {k: list(v) for k, v in self.parameters.items()}
        if self.after is not None:
            doc["after"] = list(self.after)
        for key in ("parameter_mode", "nodes", "retries"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc


@dataclass
class Job:
    """An apptainer job: its name and the files placed in its ``/input``."""

    name: str
    required_files: List[File]
    slurm: Optional[Slurm] = None
    extras: _JobExtras = field(default_factory=_JobExtras)

    def _doc(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"name": self.name, "required_files": [f._doc() for f in self.required_files], "slurm": self.slurm._doc() if self.slurm else None}
        doc.update(self.extras._doc())
        return doc


@dataclass
class PythonJob(Job):
    """A python job: ``file`` is run as ``python3 run.py <cpus>``."""

    file: File = field(default_factory=lambda: File(""))

    def _doc(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"name": self.name, "file": self.file._doc(), "required_files": [f._doc() for f in self.required_files], "slurm": self.slurm._doc() if self.slurm else None}
        doc.update(self.extras._doc())
        return doc


@dataclass
class ShellJob(Job):
    """A shell job: ``command`` is run by ``/bin/sh -c``."""

    command: str = ""

    def _doc(self) -> Dict[str, Any]:
        doc: Dict[str, Any] = {"name": self.name, "command": self.command, "required_files": [f._doc() for f in self.required_files], "slurm": self.slurm._doc() if self.slurm else None}
        doc.update(self.extras._doc())
        return doc


@dataclass
class Initialize:
    """An apptainer batch's ``initialize:``: the image, files in every job's ``/input``, writable mounts."""

    sif: File
    required_files: List[File]
    required_mounts: List[str]

    def _doc(self) -> Dict[str, Any]:
        return {"sif": self.sif._doc(), "required_files": [f._doc() for f in self.required_files], "required_mounts": list(self.required_mounts)}


@dataclass
class PythonInitialize:
    """A python batch's ``initialize:``: the build script, run once per node, and files for every job."""

    build_file: File
    required_files: List[File]

    def _doc(self) -> Dict[str, Any]:
        return {"build_file": self.build_file._doc(), "required_files": [f._doc() for f in self.required_files]}


@dataclass
class ShellInitialize:
    """A shell batch's ``initialize:``: a command run once per node, and files for every job."""

    command: Optional[str]
    required_files: List[File]

    def _doc(self) -> Dict[str, Any]:
        return {"command": self.command, "required_files": [f._doc() for f in self.required_files]}


@dataclass
class Description:
    """An initialize block and its jobs."""

    initialize: Union[Initialize, PythonInitialize, ShellInitialize]
    jobs: List[Job]

    def _doc(self) -> Dict[str, Any]:
        return {"initialize": self.initialize._doc(), "jobs": [j._doc() for j in self.jobs]}


@dataclass
class _Config:
    meta: Meta
    description: Description
    slurm: Optional[Slurm] = None
    finalize: Optional[Job] = None
    _section = ""

    def _doc(self) -> Dict[str, Any]:
        doc = {"meta": self.meta._doc(), self._section: self.description._doc(), "slurm": self.slurm._doc() if self.slurm else None}
        if self.finalize is not None:
            # a job of the batch's kind without the keys a finalize step has not, and with unset
            # values left out (the finalize block takes no ~ for an absent key, unlike a job)
            step = {k: v for k, v in self.finalize._doc().items() if k not in ("name", "parameters", "parameter_mode", "after")}
            doc["finalize"] = _without_none(step)
        return doc


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


_FINALIZE_KIND = {"apptainer": Job, "python": PythonJob, "shell": ShellJob}


def _check_finalize(section: str, step: Optional[Job]) -> Optional[Job]:
    kind = _FINALIZE_KIND[section]
    if step is not None and type(step) is not kind:
        raise TypeError(f"finalize of a {section} batch is made with {section}_finalize(), not {type(step).__name__}")
    return step


@dataclass
class ApptainerConfig(_Config):
    """A whole apptainer batch, ready for :func:`write_config_to_file`."""

    _section = "apptainer"


@dataclass
class PythonConfig(_Config):
    """A whole python batch, ready for :func:`write_config_to_file`."""

    _section = "python"


@dataclass
class ShellConfig(_Config):
    """A whole shell batch, ready for :func:`write_config_to_file`."""

    _section = "shell"


# --- the original's functions -------------------------------------------------------------


def metadata(
    namespace: str,
    batch_name: str,
    capabilities: List[str],
    matrix_username: Optional[str] = None,
    *,
    resources: Optional[Resources] = None,
    priority: Optional[int] = None,
    retries: Optional[int] = None,
    nodes: Optional[List[str]] = None,
) -> Meta:
    """The ``meta:`` section.

    :param namespace: where several batches live (a folder name)
    :param batch_name: this batch's name, unique in the namespace
    :param capabilities: what a node must have to run the jobs, e.g. ``["apptainer", "gpu"]``
    :param matrix_username: ``@you:matrix.org``, told when the batch ends (optional)
    :param resources: (added) the default resources of every job; ``resources(cpus="all")`` runs each job alone on its node
    """
    if matrix_username is not None and not (matrix_username.startswith("@") and ":" in matrix_username):
        raise ValueError(f"failed to parse matrix username {matrix_username!r}. Is it in the form of `@youname:matrix_server`?")
    return Meta(namespace=namespace, batch_name=batch_name, capabilities=list(capabilities), matrix=matrix_username, resources=resources, priority=priority, retries=retries, nodes=nodes)


def file(path: Union[str, "os.PathLike[str]"], relative: bool = False, alias: Optional[str] = None) -> File:
    """A file to appear in the job's ``input`` folder (``/input`` in a container).

    :param path: the file on this machine. Made absolute, and must exist, unless ``relative=True``
    :param relative: keep ``path`` as given (relative to the batch file's folder), existing or not
    :param alias: its name on the node; the file's own name when None
    """
    p = os.fspath(path)
    if not relative:
        try:
            os.stat(p)  # a missing file is refused, as the original's canonicalize did
            p = os.path.realpath(p)
        except OSError as e:
            raise ValueError(f"Failed to canonicalize the path provided. If this directory does not exist yet, you should use relative=True. Full error {e}") from e
    return File(path=p, alias=alias)


def initialize(
    sif_path: Union[File, str, None] = None,
    required_files: Optional[List[File]] = None,
    required_mounts: Optional[List[str]] = None,
    *,
    sif: Union[File, str, None] = None,
    requried_files: Optional[List[File]] = None,
) -> Initialize:
    """An apptainer batch's ``initialize:`` section.

    :param sif_path: the ``.sif`` image: a :func:`file`, or a path (kept as given); ``sif=`` also works
    :param required_files: files in every job's ``/input`` (the original's stub spelled it ``requried_files``; both work)
    :param required_mounts: paths inside the container to bind to empty writable folders
    """
    image = sif_path if sif_path is not None else sif
    if image is None:
        raise TypeError("initialize() needs the .sif image (sif_path)")
    if isinstance(image, (str, os.PathLike)):
        image = File(path=os.fspath(image))
    files = required_files if required_files is not None else requried_files
    return Initialize(sif=image, required_files=list(files or []), required_mounts=list(required_mounts or []))


def job(
    name: str,
    required_files: Optional[List[File]] = None,
    slurm: Optional[Slurm] = None,
    *,
    requried_files: Optional[List[File]] = None,
    resources: Optional[Resources] = None,
    parameters: Optional[Mapping[str, Sequence[Scalar]]] = None,
    parameter_mode: Optional[str] = None,
    nodes: Optional[List[str]] = None,
    retries: Optional[int] = None,
    after: Optional[List[str]] = None,
) -> Job:
    """An apptainer job.

    :param name: unique in the batch; with ``parameters``, ``{placeholders}`` are filled in
    :param required_files: files in this job's ``/input``, beside the ``initialize`` ones
    :param slurm: job-level :func:`slurm` settings over the batch's
    :param resources: (added) what this job needs, over ``metadata(resources=...)``
    :param parameters: (added) ``{"re": [100, 200]}``: the job stands for every combination
    :param parameter_mode: (added) ``"product"`` (default) or ``"zip"``
    :param after: (added) jobs of the batch that must end done first: names or ``*`` patterns, ``{placeholders}`` allowed
    """
    files = required_files if required_files is not None else requried_files
    return Job(name=name, required_files=list(files or []), slurm=slurm, extras=_JobExtras(resources, parameters, parameter_mode, nodes, retries, _after(after)))


def description(initialize: Union[Initialize, PythonInitialize, ShellInitialize], jobs: List[Job]) -> Description:
    """The initialize block with its jobs."""
    return Description(initialize=initialize, jobs=list(jobs))


def slurm(
    job_name: Optional[str] = None,
    output: Optional[str] = None,
    nodes: Optional[int] = None,
    ntasks: Optional[int] = None,
    cpus_per_task: Optional[int] = None,
    mem_per_cpu: Optional[str] = None,
    hint: Optional[str] = None,
    time: Optional[str] = None,
    partition: Optional[str] = None,
    account: Optional[str] = None,
    mail_user: Optional[str] = None,
    mail_type: Optional[str] = None,
    *,
    qos: Optional[str] = None,
    gres: Optional[str] = None,
    mem: Optional[str] = None,
    constraint: Optional[str] = None,
    array_limit: Optional[int] = None,
    extra_directives: Optional[List[str]] = None,
    setup: Optional[List[str]] = None,
) -> Slurm:
    """Slurm settings for ``distribute slurm``: the original's twelve, plus (added) ``qos``, ``gres``, ``mem``, ``constraint``, ``array_limit``, ``extra_directives``, ``setup``."""
    values = dict(locals())
    return Slurm(values={k: v for k, v in values.items() if v is not None})


def resources(cpus: Union[int, str, None] = None, memory: Union[str, int, None] = None, gpus: Optional[int] = None, time: Union[str, int, None] = None) -> Resources:
    """(added) What a job needs. ``cpus="all"`` takes the whole node, alone, and tells the job its cpus."""
    if isinstance(cpus, str) and cpus != "all":
        raise ValueError(f'cpus is a number or "all", not {cpus!r}')
    return Resources(cpus=cpus, memory=memory, gpus=gpus, time=time)


def apptainer_config(meta: Meta, description: Description, slurm: Optional[Slurm] = None, *, finalize: Optional[Job] = None) -> ApptainerConfig:
    """The whole apptainer batch: :func:`metadata` and :func:`description`, and batch-level :func:`slurm` settings."""
    if not isinstance(description.initialize, Initialize):
        raise TypeError("apptainer_config() takes a description made with initialize(); use python_config() or shell_config() for the others")
    return ApptainerConfig(meta=meta, description=description, slurm=slurm, finalize=_check_finalize(ApptainerConfig._section, finalize))


def write_config_to_file(config: _Config, path: Union[str, "os.PathLike[str]"]) -> None:
    """Writes the batch to ``path``, usually ``distribute-jobs.yaml``."""
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(to_yaml(config))


def to_yaml(config: _Config) -> str:
    """The batch file's text."""
    return dump(config._doc())


# --- python and shell batches (added) --------------------------------------------------------


def python_initialize(build_file: File, required_files: Optional[List[File]] = None) -> PythonInitialize:
    """A python batch's ``initialize:``: ``build_file`` runs once per node as ``python3 build.py``; its outputs sit beside every job."""
    return PythonInitialize(build_file=build_file, required_files=list(required_files or []))


def python_job(
    name: str,
    file: File,
    required_files: Optional[List[File]] = None,
    slurm: Optional[Slurm] = None,
    *,
    resources: Optional[Resources] = None,
    parameters: Optional[Mapping[str, Sequence[Scalar]]] = None,
    parameter_mode: Optional[str] = None,
    nodes: Optional[List[str]] = None,
    retries: Optional[int] = None,
    after: Optional[List[str]] = None,
) -> PythonJob:
    """A python job: ``file`` runs as ``python3 run.py <cpus>`` beside ``input/`` and ``distribute_save/``."""
    return PythonJob(name=name, required_files=list(required_files or []), slurm=slurm, extras=_JobExtras(resources, parameters, parameter_mode, nodes, retries, _after(after)), file=file)


def python_description(initialize: PythonInitialize, jobs: List[PythonJob]) -> Description:
    """A python batch's initialize block with its jobs."""
    return Description(initialize=initialize, jobs=list(jobs))


def python_config(meta: Meta, description: Description, slurm: Optional[Slurm] = None, *, finalize: Optional[Job] = None) -> PythonConfig:
    """The whole python batch."""
    if not isinstance(description.initialize, PythonInitialize):
        raise TypeError("python_config() takes a description made with python_initialize()")
    return PythonConfig(meta=meta, description=description, slurm=slurm, finalize=_check_finalize(PythonConfig._section, finalize))


def shell_initialize(command: Optional[str] = None, required_files: Optional[List[File]] = None) -> ShellInitialize:
    """A shell batch's ``initialize:``: ``command`` runs once per node by ``/bin/sh -c``."""
    return ShellInitialize(command=command, required_files=list(required_files or []))


def shell_job(
    name: str,
    command: str,
    required_files: Optional[List[File]] = None,
    slurm: Optional[Slurm] = None,
    *,
    resources: Optional[Resources] = None,
    parameters: Optional[Mapping[str, Sequence[Scalar]]] = None,
    parameter_mode: Optional[str] = None,
    nodes: Optional[List[str]] = None,
    retries: Optional[int] = None,
    after: Optional[List[str]] = None,
) -> ShellJob:
    """A shell job: ``command`` runs by ``/bin/sh -c`` (``{placeholders}`` filled from ``parameters``)."""
    return ShellJob(name=name, required_files=list(required_files or []), slurm=slurm, extras=_JobExtras(resources, parameters, parameter_mode, nodes, retries, _after(after)), command=command)


def shell_description(initialize: ShellInitialize, jobs: List[ShellJob]) -> Description:
    """A shell batch's initialize block with its jobs."""
    return Description(initialize=initialize, jobs=list(jobs))


def shell_config(meta: Meta, description: Description, slurm: Optional[Slurm] = None, *, finalize: Optional[Job] = None) -> ShellConfig:
    """The whole shell batch."""
    if not isinstance(description.initialize, ShellInitialize):
        raise TypeError("shell_config() takes a description made with shell_initialize()")
    return ShellConfig(meta=meta, description=description, slurm=slurm, finalize=_check_finalize(ShellConfig._section, finalize))


# --- dependencies (added) ---------------------------------------------------------------------


def _after(after: Optional[Sequence[str]]) -> Optional[List[str]]:
    if after is None:
        return None
    if isinstance(after, str) or not all(isinstance(a, str) for a in after):
        raise TypeError(f"after is a list of job names or patterns, not {after!r}")
    return list(after)


def apptainer_finalize(required_files: Optional[List[File]] = None, slurm: Optional[Slurm] = None, *, resources: Optional[Resources] = None, nodes: Optional[List[str]] = None, retries: Optional[int] = None) -> Job:
    """An apptainer batch's finalize step (``apptainer_config(..., finalize=...)``): runs once every job has ended, with their results in ``/input/results/<job>/``."""
    return Job(name="", required_files=list(required_files or []), slurm=slurm, extras=_JobExtras(resources, None, None, nodes, retries))


def python_finalize(file: File, required_files: Optional[List[File]] = None, slurm: Optional[Slurm] = None, *, resources: Optional[Resources] = None, nodes: Optional[List[str]] = None, retries: Optional[int] = None) -> PythonJob:
    """A python batch's finalize step: ``file`` runs once every job has ended, their results in ``input/results/<job>/``, ``DISTRIBUTE_JOBS_DONE`` / ``DISTRIBUTE_JOBS_FAILED`` in its environment."""
    return PythonJob(name="", required_files=list(required_files or []), slurm=slurm, extras=_JobExtras(resources, None, None, nodes, retries), file=file)


def shell_finalize(command: str, required_files: Optional[List[File]] = None, slurm: Optional[Slurm] = None, *, resources: Optional[Resources] = None, nodes: Optional[List[str]] = None, retries: Optional[int] = None) -> ShellJob:
    """A shell batch's finalize step: ``command`` runs once every job has ended, their results in ``input/results/<job>/``, ``DISTRIBUTE_JOBS_DONE`` / ``DISTRIBUTE_JOBS_FAILED`` in its environment."""
    return ShellJob(name="", required_files=list(required_files or []), slurm=slurm, extras=_JobExtras(resources, None, None, nodes, retries), command=command)
