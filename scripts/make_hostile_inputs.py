"""Writes the regression inputs for the defects of issue 13 under tests/fuzz/regress/<target>/
(replayed by tests/cli/fuzz_regress.sh and checked one by one in tests/test_hostile.c).
Each is a small file that used to cost far more than its size, or crashed:
  pickle/setitems_empty_stack.pkl  PROTO 4, MARK, SETITEMS (UBSan: NULL + 0 in op_setitems)
  pickle/memo_index_huge.pkl       9 bytes: LONG_BINPUT 0x03ffffff (513 MB memo table)
  hdf5/obs_index_2e31.h5ad         tests/fixtures/io/tiny.h5ad with obs/_index declared as
                                   2^31 vlen strings (chunked, nothing stored: 11.5 GB, 37 s)
  text_matrix/header_commas.csv.gz a CSV whose header is 2^24 + 2^20 commas (gzip)
  text_matrix/long_comment.mtx.gz  an mtx whose second line is a 24 MiB comment (gzip)
Usage: python3 scripts/make_hostile_inputs.py   (from the repository root; needs h5py)"""
import gzip, os, shutil
import h5py

R = "tests/fuzz/regress"
def put(rel, data):
    os.makedirs(os.path.dirname(os.path.join(R, rel)), exist_ok=True)
    open(os.path.join(R, rel), "wb").write(data)

put("pickle/setitems_empty_stack.pkl", bytes([0x80, 0x04, 0x28, 0x75]))
put("pickle/memo_index_huge.pkl", bytes([0x80, 0x04, 0x7D, 0x72, 0xFF, 0xFF, 0xFF, 0x03, 0x2E]))

h = os.path.join(R, "hdf5/obs_index_2e31.h5ad")
os.makedirs(os.path.dirname(h), exist_ok=True)
shutil.copy("tests/fixtures/io/tiny.h5ad", h)
with h5py.File(h, "r+") as f:
    del f["obs/_index"]
    f["obs"].create_dataset("_index", shape=(2**31,), dtype=h5py.string_dtype(), chunks=(1 << 16,),
                            compression="gzip")
# repack so that the deleted dataset's space is not left in the file
tmp = h + ".tmp"
os.system(f"h5repack '{h}' '{tmp}' && mv '{tmp}' '{h}'")

put("text_matrix/header_commas.csv.gz", gzip.compress(b"," * ((1 << 24) + (1 << 20)) + b"\nc1,1\n", 9, mtime=0))
put("text_matrix/long_comment.mtx.gz",
    gzip.compress(b"%%MatrixMarket matrix coordinate integer general\n%" + b"x" * (24 << 20) + b"\n50 30 1\n1 1 1\n", 9, mtime=0))

for root, _, files in os.walk(R):
    for n in sorted(files):
        print(os.path.join(root, n), os.path.getsize(os.path.join(root, n)))
