# One job: `python3 run.py <cpus>`, in its attempt folder. Its inputs are in input/ under
# their alias; what it writes to $DISTRIBUTE_SAVE is archived and pulled.
import json
import os
import sys

cpus = int(sys.argv[1])
inputs = os.environ["DISTRIBUTE_INPUT"]
save = os.environ["DISTRIBUTE_SAVE"]

with open(os.path.join(inputs, "params.json")) as f:
    params = json.load(f)
with open(os.path.join(os.environ["DISTRIBUTE_BUILD"], "table.json")) as f:
    table = json.load(f)

result = {
    "job": os.environ["DISTRIBUTE_JOB_NAME"],
    "cpus": cpus,
    "re": params["re"],
    "drag": round(24.0 / params["re"] * (1 + 0.15 * params["re"] ** 0.687), 6),
    "squares_seen": len(table["squares"]),
}
with open(os.path.join(save, "result.json"), "w") as f:
    json.dump(result, f, indent=2)
print(json.dumps(result))
