"""The package's API, the text it writes, and every file it writes checked by ``distribute validate``.

The CLI is found through ``DISTRIBUTE_CLI`` (the built ``dist/src/cli.js``), else beside this
repository's ``python/`` folder; a test fails, never skips, when it is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import distribute_compute_config as distribute  # noqa: E402
from distribute_compute_config._yaml import dump, scalar  # noqa: E402

CLI = os.environ.get("DISTRIBUTE_CLI") or str(Path(__file__).resolve().parents[2] / "dist" / "src" / "cli.js")


def validate(path, check_files=False):
    """``distribute validate --json`` on a written file: the parsed batch, or a failure naming every problem."""
    args = ["node", CLI, "validate", "--json"] + ([] if check_files else ["--no-files"]) + [str(path)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"distribute validate refused {path}:\n{r.stderr}\n{Path(path).read_text()}")
    return json.loads(r.stdout)["batch"]


class Folder(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="dcc-test-"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, config, name="distribute-jobs.yaml"):
        path = self.dir / name
        distribute.write_config_to_file(config, path)
        return path


class TheOriginalApi(Folder):
    def original_example(self):
        meta = distribute.metadata("test_namespace", "test_batch", ["apptainer"], "@matrix_id:matrix.org")
        sif = distribute.file("./path/to/some/container.sif", relative=True)
        ic = distribute.file("./path/to/some/file.h5", relative=True, alias="initial_condition.h5")
        init = distribute.initialize(sif, [ic], ["/solver/extra_mount"])
        jobs = [
            distribute.job("job_1", [distribute.file("./path/to/config1.json", alias="config.json", relative=True)]),
            distribute.job("job_2", [distribute.file("./path/to/config2.json", alias="config.json", relative=True)]),
        ]
        s = distribute.slurm(output="output.txt", nodes=1, ntasks=4, cpus_per_task=1, mem_per_cpu="10M", hint="nomultithread", time="00:30:00", partition="cpu-core-0", account="my_account")
        return distribute.apptainer_config(meta, distribute.description(init, jobs), slurm=s)

    def test_writes_every_unset_option_as_tilde(self):
        text = distribute.to_yaml(self.original_example())
        for line in ["      alias: ~", "      slurm: ~", "  job_name: ~", "  mail_user: ~", "  mail_type: ~"]:
            self.assertIn(line + "\n", text)
        self.assertNotIn("null", text)

    def test_writes_the_original_documentation_example_as_it_did(self):
        path = self.write(self.original_example())
        batch = validate(path)
        self.assertEqual(batch["kind"], "apptainer")
        self.assertEqual(batch["meta"]["matrix"], "@matrix_id:matrix.org")
        self.assertEqual([j["name"] for j in batch["jobs"]], ["job_1", "job_2"])
        self.assertEqual(batch["initialize"]["sif"]["alias"], "container.sif")
        self.assertEqual(batch["initialize"]["requiredFiles"][0]["alias"], "initial_condition.h5")
        self.assertEqual(batch["initialize"]["requiredMounts"], ["/solver/extra_mount"])
        self.assertEqual(batch["slurm"], {"output": "output.txt", "nodes": 1, "ntasks": 4, "cpus_per_task": 1, "mem_per_cpu": "10M", "hint": "nomultithread", "time": "00:30:00", "partition": "cpu-core-0", "account": "my_account"})

    def test_job_slurm_overrides_the_batch_block(self):
        meta = distribute.metadata("ns", "b", [])
        init = distribute.initialize(sif_path="img.sif", required_files=[], required_mounts=[])
        jobs = [distribute.job("a", [], slurm=distribute.slurm(time="01:00:00")), distribute.job("b", [])]
        batch = validate(self.write(distribute.apptainer_config(meta, distribute.description(init, jobs), slurm=distribute.slurm(time="00:10:00", partition="p"))))
        self.assertEqual(batch["jobs"][0]["slurm"], {"time": "01:00:00", "partition": "p"})
        self.assertEqual(batch["jobs"][1]["slurm"], {"time": "00:10:00", "partition": "p"})

    def test_file_without_relative_is_made_absolute_and_must_exist(self):
        real = self.dir / "data.csv"
        real.write_text("x\n")
        self.assertEqual(distribute.file(str(real)).path, os.path.realpath(real))
        with self.assertRaises(ValueError) as e:
            distribute.file(str(self.dir / "missing.csv"))
        self.assertIn("relative=True", str(e.exception))

    def test_takes_the_stub_spelling_requried_files(self):
        f = distribute.file("a.txt", relative=True)
        self.assertEqual(distribute.job("j", requried_files=[f]).required_files, [f])
        self.assertEqual(distribute.initialize(sif="x.sif", requried_files=[f]).required_files, [f])

    def test_refuses_a_matrix_user_that_is_not_one(self):
        with self.assertRaises(ValueError):
            distribute.metadata("ns", "b", [], "not-a-user")


class WhatThisDistributeAdds(Folder):
    def test_python_batch_with_resources_all(self):
        (self.dir / "build.py").write_text("pass\n")
        (self.dir / "run.py").write_text("pass\n")
        meta = distribute.metadata("cfd", "solver", ["python3"], resources=distribute.resources(cpus="all"))
        init = distribute.python_initialize(distribute.file(self.dir / "build.py"))
        jobs = [distribute.python_job(f"case{i}", distribute.file(self.dir / "run.py")) for i in (1, 2)]
        path = self.write(distribute.python_config(meta, distribute.python_description(init, jobs)))
        self.assertIn("  resources:\n    cpus: all\n", path.read_text())
        batch = validate(path, check_files=True)
        self.assertEqual(batch["kind"], "python")
        self.assertEqual([j["resources"]["cpus"] for j in batch["jobs"]], [0, 0])

    def test_shell_sweep_with_parameters_expands(self):
        meta = distribute.metadata("lab", "sweep", [])
        job = distribute.shell_job("re_{re}_{mesh}", "echo {re} {mesh} > $DISTRIBUTE_SAVE/out", resources=distribute.resources(cpus=2, memory="1G", time="10m"), parameters={"re": [100, 200], "mesh": ["a", "b"]})
        batch = validate(self.write(distribute.shell_config(meta, distribute.shell_description(distribute.shell_initialize(), [job]), slurm=distribute.slurm(partition="cpu", qos="low"))))
        self.assertEqual(sorted(j["name"] for j in batch["jobs"]), ["re_100_a", "re_100_b", "re_200_a", "re_200_b"])
        self.assertEqual(batch["jobs"][0]["resources"], {"cpus": 2, "memory": 1024 ** 3, "gpus": 0, "time": 600})
        self.assertEqual(batch["slurm"], {"partition": "cpu", "qos": "low"})

    def test_zip_mode_and_job_options(self):
        meta = distribute.metadata("lab", "zip", [], priority=5, retries=1)
        job = distribute.shell_job("c_{a}", "true", parameters={"a": [1, 2], "b": ["x", "y"]}, parameter_mode="zip", retries=3)
        batch = validate(self.write(distribute.shell_config(meta, distribute.shell_description(distribute.shell_initialize("make"), [job]))))
        self.assertEqual([j["name"] for j in batch["jobs"]], ["c_1", "c_2"])
        self.assertEqual(batch["meta"]["priority"], 5)
        self.assertEqual(batch["jobs"][0]["retries"], 3)

    def test_refuses_cpus_other_than_a_number_or_all(self):
        with self.assertRaises(ValueError):
            distribute.resources(cpus="many")

    def test_config_kind_must_match_the_initialize(self):
        meta = distribute.metadata("ns", "b", [])
        with self.assertRaises(TypeError):
            distribute.apptainer_config(meta, distribute.description(distribute.shell_initialize(), []))


class Dependencies(Folder):
    """``after`` on a job and a ``finalize`` step, as the TypeScript API says them."""

    def mesh_batch(self, name, fail=False):
        meta = distribute.metadata("deps", name, [])
        jobs = [
            distribute.shell_job("mesh", "exit 3" if fail else 'echo mesh > "$DISTRIBUTE_SAVE/mesh.txt"'),
            distribute.shell_job("solve_{re}", 'echo "{re}" > "$DISTRIBUTE_SAVE/value.txt"', parameters={"re": [1, 2, 3]}, after=["mesh"]),
        ]
        step = distribute.shell_finalize('cat "$DISTRIBUTE_INPUT"/results/solve_*/value.txt | sort -n > "$DISTRIBUTE_SAVE/table.txt"; echo "$DISTRIBUTE_JOBS_DONE $DISTRIBUTE_JOBS_FAILED" > "$DISTRIBUTE_SAVE/counts"', resources=distribute.resources(cpus=1))
        return distribute.shell_config(meta, distribute.shell_description(distribute.shell_initialize(), jobs), finalize=step)

    def test_writes_after_and_finalize_that_validate(self):
        path = self.write(self.mesh_batch("ordered"))
        text = path.read_text()
        self.assertIn("      after:\n        - mesh\n", text)
        self.assertIn("finalize:\n", text)
        batch = validate(path)
        self.assertEqual({j["name"]: j.get("after") for j in batch["jobs"]}, {"mesh": None, "solve_1": ["mesh"], "solve_2": ["mesh"], "solve_3": ["mesh"]})
        self.assertEqual(batch["finalize"]["name"], "_finalize")
        self.assertEqual(batch["finalize"]["resources"]["cpus"], 1)

    def test_runs_in_order_with_distribute_run(self):
        for fail, table, counts in [(False, "1\n2\n3\n", "4 0\n"), (True, "", "0 4\n")]:
            path = self.write(self.mesh_batch(f"run_{int(fail)}", fail), f"b{int(fail)}.yaml")
            save = self.dir / f"save{int(fail)}"
            r = subprocess.run(["node", CLI, "run", str(path), "--save-dir", str(save)], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1 if fail else 0, r.stderr)
            final = save / f"run_{int(fail)}" / "_finalize"
            self.assertEqual((final / "table.txt").read_text(), table)
            self.assertEqual((final / "counts").read_text(), counts)

    def test_a_cycle_is_refused_by_validate_with_exit_2(self):
        meta = distribute.metadata("deps", "cycle", [])
        jobs = [distribute.shell_job("a", "true", after=["b"]), distribute.shell_job("b", "true", after=["a"])]
        path = self.write(distribute.shell_config(meta, distribute.shell_description(distribute.shell_initialize(), jobs)))
        r = subprocess.run(["node", CLI, "validate", "--no-files", str(path)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cycle", r.stderr)

    def test_python_and_apptainer_finalize_steps(self):
        (self.dir / "run.py").write_text("pass\n")
        (self.dir / "gather.py").write_text("pass\n")
        (self.dir / "build.py").write_text("pass\n")
        meta = distribute.metadata("deps", "py", [])
        init = distribute.python_initialize(distribute.file(self.dir / "build.py"))
        jobs = [distribute.python_job("a", distribute.file(self.dir / "run.py")), distribute.python_job("b", distribute.file(self.dir / "run.py"), after=["a*"])]
        step = distribute.python_finalize(distribute.file(self.dir / "gather.py"))
        batch = validate(self.write(distribute.python_config(meta, distribute.python_description(init, jobs), finalize=step)), check_files=True)
        self.assertEqual(batch["jobs"][1]["after"], ["a"])
        self.assertTrue(batch["finalize"]["file"]["path"].endswith("gather.py"))
        sif = distribute.initialize(distribute.file("image.sif", relative=True))
        config = distribute.apptainer_config(distribute.metadata("deps", "ap", ["apptainer"]), distribute.description(sif, [distribute.job("a", [])]), finalize=distribute.apptainer_finalize())
        self.assertEqual(validate(self.write(config, "ap.yaml"))["finalize"]["name"], "_finalize")

    def test_refuses_a_finalize_of_another_kind_and_after_as_a_string(self):
        meta = distribute.metadata("deps", "x", [])
        with self.assertRaises(TypeError):
            distribute.shell_config(meta, distribute.shell_description(distribute.shell_initialize(), []), finalize=distribute.apptainer_finalize())
        with self.assertRaises(TypeError):
            distribute.shell_job("a", "true", after="mesh")


class YamlWriter(unittest.TestCase):
    def test_quotes_what_yaml_would_read_as_something_else(self):
        for s in ["true", "no", "y", "~", "null", "10", "1.5", "00:30:00", "@a:b", "", " x", "a: b", "#c", "{x}", "- y", "it's", 'say "hi"', "é"]:
            out = scalar(s)
            self.assertTrue(out.startswith('"'), f"{s!r} written plain")
            self.assertEqual(json.loads(out), s)
        for s in ["job_1", "./path/to/file.h5", "/solver/extra_mount", "cpu-core-0"]:
            self.assertEqual(scalar(s), s)

    def test_strings_round_trip_through_the_cli(self):
        tricky = ["true", "no", "00:30:00", "@x:y", "a: b", "#c", "{re}", "- y", "it's", 'say "hi"\n', "tab\there", "é ü", "0x10", "1e3", ".inf", "yes"]
        jobs = [distribute.shell_job(f"j{i}", s) for i, s in enumerate(tricky)]
        d = Path(tempfile.mkdtemp(prefix="dcc-yaml-"))
        try:
            path = d / "b.yaml"
            distribute.write_config_to_file(distribute.shell_config(distribute.metadata("ns", "b", []), distribute.shell_description(distribute.shell_initialize(), jobs)), path)
            r = subprocess.run(["node", CLI, "validate", "--json", "--no-files", str(path)], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            # {re} is a placeholder only with parameters; without them the command is kept as written
            self.assertEqual([j["command"] for j in json.loads(r.stdout)["batch"]["jobs"]], tricky)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_empty_collections_and_nesting(self):
        self.assertEqual(dump({"a": [], "b": {}, "c": [{"x": 1, "z": [2]}]}), "a: []\nb: {}\nc:\n  - x: 1\n    z:\n      - 2\n")


if __name__ == "__main__":
    unittest.main()
