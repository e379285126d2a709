# Runs once per node before the first job, in the build folder ($DISTRIBUTE_BUILD for jobs).
# Here it precomputes a table every job reads.
import json

with open("table.json", "w") as f:
    json.dump({"squares": [i * i for i in range(10)]}, f)
print("build done")
