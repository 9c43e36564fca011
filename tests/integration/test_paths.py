"""The ``paths`` artifact and the list of original files, over the emulator.

Plate 7375 of the demo preset is one fileset of 8 files (one per imaged well), which each
of its 8 images lists whole; dataset 52's images have a fileset of one file each, but
1884808, which has none (``{}``). The emulator's app is wrapped to count the
``original_file_paths`` requests and to answer chosen images otherwise.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import harvest, run_cli
from paths_helpers import CountingApp, paths_file, served

from harvester.config import parse_artifacts
from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c
from harvester.emulator.http import Response
from harvester.emulator.routes_common import json_response, text_response
from harvester.layout import image_path
from harvester.models import DEFAULT_ARTIFACTS, Artifact
from harvester.originals import IDR_URL_MAPS, default_maps, public_url
from harvester.status import collect_status
from harvester.verify import verify

PLATE = c.DEMO_PLATE_ID
DATASET = 52
DATASET_IMAGES = (1884805, 1884806, 1884807, 1884808)
NO_FILESET = c.DEMO_NO_FILESET_IMAGE_ID
MIRROR = "https://mirror.example/IDR"


@pytest.fixture
def counting(make_emulator: Callable[..., EmulatorThread]) -> tuple[EmulatorThread, CountingApp]:
    app = CountingApp()
    return make_emulator(app=app), app


def read_tsv(out: Path) -> list[dict[str, str]]:
    text = (out / "originals.tsv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def read_index(out: Path) -> dict[int, dict[str, str]]:
    text = (out / "index.csv").read_text(encoding="utf-8")
    return {int(r["image_id"]): r for r in csv.DictReader(io.StringIO(text))}


def raw_urls(out: Path) -> list[str]:
    return (out / "raw-urls.txt").read_text(encoding="utf-8").splitlines()


def test_paths_is_opt_in_and_idr_gets_its_mirror_by_default() -> None:
    """paths is in all, not in the defaults; only a folder of IDR's maps to its mirror."""
    assert Artifact.PATHS in parse_artifacts("all")
    assert Artifact.PATHS not in DEFAULT_ARTIFACTS
    assert parse_artifacts("paths,thumbnail") == (Artifact.THUMBNAIL, Artifact.PATHS)
    assert default_maps("https://idr.openmicroscopy.org") == IDR_URL_MAPS
    assert default_maps("https://omero.example.org/omero/") == ()
    assert default_maps(None) == ()


def test_paths_files_index_and_originals_then_a_mapping_gives_urls(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """Each image's answer is saved verbatim; index.csv names its fileset; originals.tsv
    lists each file once (a plate's 8 for its 8 images); without a mirror no URL, with
    --raw-url-map one per file; a resume asks nothing again."""
    emu, app = counting
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(PLATE,), datasets=(DATASET,), artifacts=(Artifact.PATHS,)
    )
    assert summary.failed == 0
    asked = list(app.asked)
    rows = read_index(out)
    plate_images = sorted(i for i, row in rows.items() if row["plate_id"] == str(PLATE))
    assert len(plate_images) == 8
    # One image of the plate asks; the server proves the others in its fileset.
    plate_asked = set(asked) - set(DATASET_IMAGES)
    assert len(plate_asked) == 1 and plate_asked <= set(plate_images)
    assert sorted(asked) == sorted([*plate_asked, *DATASET_IMAGES])  # once each
    for image_id in [*plate_images, *DATASET_IMAGES]:
        assert paths_file(out, image_id).read_bytes() == served(emu.base_url, image_id)
    assert json.loads(paths_file(out, NO_FILESET).read_bytes()) == {}

    plate_fileset = json.loads(paths_file(out, plate_images[0]).read_bytes())["fileset"]["id"]
    assert {rows[i]["fileset_id"] for i in plate_images} == {str(plate_fileset)}
    assert rows[NO_FILESET]["fileset_id"] == "" and rows[NO_FILESET]["paths_path"] == (
        image_path(NO_FILESET, "paths")
    )
    listed = read_tsv(out)
    assert len(listed) == 8 + 3  # the plate's files once, one each for 3 dataset images
    assert len({r["path"] for r in listed}) == len(listed)
    assert sum(r["fileset_id"] == str(plate_fileset) for r in listed) == 8
    assert all(r["path"].startswith(("nfs/bioimage/drop/", "uod/idr/incoming/")) for r in listed)
    # Not IDR: no public mirror known, the paths alone.
    assert all(r["url"] == "" for r in listed) and raw_urls(out) == []
    assert "paths only" in summary.originals_line

    kinds = collect_status(out).kinds
    assert kinds["paths"].done == 12 and kinds["paths"].failed == 0
    assert verify(out).damaged == []

    done = run_cli(
        "index",
        str(out),
        "--raw-url-map",
        f"nfs/bioimage/drop={MIRROR}/",
        "--raw-url-map",
        f"uod/idr/incoming={MIRROR}",
    )
    assert done.returncode == 0, done.stderr
    assert f"11 public URLs in {out / 'raw-urls.txt'}" in done.stdout
    urls = raw_urls(out)
    assert len(urls) == 11 and len(set(urls)) == 11
    study = "idr0056-stojic-lncrnas"
    assert f"{MIRROR}/{study}/1988/1988_A1_s1.tif" in urls
    assert {r["url"] for r in read_tsv(out)} == set(urls)

    app.asked.clear()
    again = harvest(
        emu.base_url, out, plates=(PLATE,), datasets=(DATASET,), artifacts=(Artifact.PATHS,)
    )
    assert again.failed == 0 and app.asked == []
    assert raw_urls(out) == urls  # the recorded mapping holds for later index writes

    # One paths file read per fileset: the plate's other images' files are not opened.
    paths_file(out, plate_images[-1]).unlink()
    done = run_cli("index", str(out))
    assert done.returncode == 0 and "unreadable" not in done.stdout, done.stdout
    assert raw_urls(out) == urls


def test_a_404_fails_the_artifact_and_a_rerun_asks_only_it(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """An image answered 404 fails its paths with no file, as other artifacts fail; the
    next run asks that image alone."""
    emu, app = counting
    out = tmp_path / "out"
    gone = DATASET_IMAGES[0]
    app.answer = lambda i: text_response(404, "<h1>Not Found</h1>") if i == gone else None
    summary = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.PATHS,))
    assert [(f.kind, f.image_id, f.status) for f in summary.failures] == [("paths", gone, 404)]
    assert not paths_file(out, gone).exists()
    assert collect_status(out).kinds["paths"].failed == 1
    assert len(read_tsv(out)) == 2  # the two other images with a fileset

    app.answer = lambda i: None
    app.asked.clear()
    rerun = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.PATHS,))
    assert rerun.failed == 0 and app.asked == [gone]
    assert len(read_tsv(out)) == 3


def test_a_malformed_answer_is_not_stored(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """An answer without a fileset id or path lists fails the artifact: nothing stored."""
    emu, app = counting
    out = tmp_path / "out"
    bad = DATASET_IMAGES[1]
    body = {"repo": [], "client": [], "fileset": {"id": "7"}}
    app.answer = lambda i: json_response(body) if i == bad else None
    summary = harvest(
        emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.PATHS,), max_retries=1
    )
    assert [(f.kind, f.image_id) for f in summary.failures] == [("paths", bad)]
    assert "fileset id" in summary.failures[0].reason
    assert not paths_file(out, bad).exists()


def test_server_paths_never_name_local_files_nor_escape_the_lists(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """Hostile client paths: no file is made from them, a path that climbs or holds control
    characters gets no URL and stays one TSV cell, and odd characters are percent-encoded; a
    path that is a URL with credentials is listed without them."""
    emu, app = counting
    out = tmp_path / "out"
    hostile = [
        "uod/idr/filesets/../../../etc/passwd",
        "../../outside.tif",
        "/abs/uod/idr/filesets/x.tif",
        "uod/idr/filesets/s/a\tb\nwget http://evil.example/x.tif",
        "uod/idr/filesets/s//double.tif",
        "uod/idr/filesets/s/sp ace#1?.tif",
        "https://me:s3cret@bucket.example/s/x.zarr/.zattrs?token=t0ken",  # imported from S3
    ]
    body = {"repo": ["r"] * len(hostile), "client": hostile, "fileset": {"id": 5}}
    target = DATASET_IMAGES[2]
    app.answer = lambda i: json_response(body) if i == target else None
    harvest(emu.base_url, out, images=(target,), artifacts=(Artifact.PATHS,))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = run_cli("index", str(out), "--raw-url-map", f"uod/idr/filesets={MIRROR}")
    assert done.returncode == 0, done.stderr
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    made = {str(p) for p in set(after) - set(before)}
    assert made <= {"out/originals.tsv", "out/raw-urls.txt", "out/raw_url_map.json"}
    assert raw_urls(out) == [f"{MIRROR}/s/sp%20ace%231%3F.tif"]
    lines = (out / "originals.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(hostile) and all(line.count("\t") == 2 for line in lines)
    assert any("a%09b%0Awget" in line for line in lines)
    assert any("bucket.example/s/x.zarr" in line for line in lines)
    assert "s3cret" not in "".join(lines) and "t0ken" not in "".join(lines)


def test_a_mapped_path_holding_a_token_gets_no_url(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """A client path that is a URL with a token in its query, under a mapping that covers
    it, gets no URL: the token reached raw-urls.txt and the url cell (percent-encoded)
    while the path cell beside it was redacted."""
    emu, app = counting
    out = tmp_path / "out"
    bucket = "https://bucket.example/s"
    client = [f"{bucket}/x.zarr/.zattrs?token=t0ken", f"{bucket}/x.zarr/.zgroup"]
    body = {"repo": ["r", "r"], "client": client, "fileset": {"id": 5}}
    target = DATASET_IMAGES[2]
    app.answer = lambda i: json_response(body) if i == target else None
    harvest(emu.base_url, out, images=(target,), artifacts=(Artifact.PATHS,))
    done = run_cli("index", str(out), "--raw-url-map", f"{bucket}={MIRROR}")
    assert done.returncode == 0, done.stderr
    assert raw_urls(out) == [f"{MIRROR}/x.zarr/.zgroup"]
    rows = read_tsv(out)
    assert [row["url"] for row in rows] == ["", f"{MIRROR}/x.zarr/.zgroup"]
    assert rows[0]["path"] == f"{bucket}/x.zarr/.zattrs?token=REDACTED"
    listed = (out / "originals.tsv").read_text(encoding="utf-8") + "".join(raw_urls(out))
    assert "t0ken" not in listed and "t0ken" not in done.stdout + done.stderr


def test_bad_mapping_is_a_one_line_error(tmp_path: Path) -> None:
    """--raw-url-map without '=', with a non-URL target or with credentials: error + hint,
    exit 2, the error labelled with the flag (it said ``raw_url_map:``), and the
    credentials are neither echoed nor recorded."""
    out = tmp_path / "out"
    out.mkdir()
    for value in (
        "nonsense",
        "uod/idr/filesets=not-a-url",
        "uod/idr/filesets=https://me:s3cret@mirror.example/IDR",
        "https://me:s3cret@mirror.example/IDR",  # the URL alone, FROM= forgotten
        "uod=me:s3cret@mirror.example/IDR",  # no scheme
        "uod=http://[::1/IDR",  # no host
        "uod=https://mirror.example:99999/IDR",  # no port
        "uod=https://mirror.example/my mirror",  # would split each line of raw-urls.txt
        "uod=https://mirror.example/IDR#top",  # would end each URL's path
    ):
        done = run_cli("index", str(out), "--raw-url-map", value)
        assert done.returncode == 2
        assert done.stderr.startswith("error: --raw-url-map: "), done.stderr
        assert "Traceback" not in done.stderr and "hint: " in done.stderr
        assert "s3cret" not in done.stderr + done.stdout
    assert not (out / "raw_url_map.json").exists()


IDR_FTP = "https://ftp.ebi.ac.uk/pub/databases/IDR"


@pytest.mark.parametrize(
    ("client_path", "url"),
    [
        (  # idr0001-idr0009 were imported from idr/filesets
            "idr/filesets/idr0001-graml-sysgro/20151116-verified/JL_120731_S6A/"
            "Meas_01(2012-07-31_10-41-12)/005010001.flex",
            f"{IDR_FTP}/idr0001-graml-sysgro/20151116-verified/JL_120731_S6A/"
            "Meas_01%282012-07-31_10-41-12%29/005010001.flex",
        ),
        (  # the study the README's example names: nfs/bioimage/drop, brackets, a space
            "nfs/bioimage/drop/idr0056-stojic-lncrnas/20190513-ftp/RNAi screenA/1921[652]/"
            "MeasurementIndex.ColumbusIDX.xml",
            f"{IDR_FTP}/idr0056-stojic-lncrnas/20190513-ftp/RNAi%20screenA/1921%5B652%5D/"
            "MeasurementIndex.ColumbusIDX.xml",
        ),
        (
            "uod/idr/incoming/idr0021-lawo-pericentriolarmaterial/Raw-files/CDK5RAP2-C/"
            "Centrin_PCNT_Cep215_20110506/Centrin_PCNT_Cep215_20110506_Fri-1545_0_SIR_PRJ.dv",
            f"{IDR_FTP}/idr0021-lawo-pericentriolarmaterial/Raw-files/CDK5RAP2-C/"
            "Centrin_PCNT_Cep215_20110506/Centrin_PCNT_Cep215_20110506_Fri-1545_0_SIR_PRJ.dv",
        ),
        (  # a '#' in a folder name
            "uod/idr/filesets/idr0047-neuert-yeastmRNA/20181016-ftp/Exp1_rep1/#1_Raw_Images/"
            "Exp1_rep1_0min_im1.tif",
            f"{IDR_FTP}/idr0047-neuert-yeastmRNA/20181016-ftp/Exp1_rep1/%231_Raw_Images/"
            "Exp1_rep1_0min_im1.tif",
        ),
        (  # mirrored under another folder name than it was imported from
            "uod/idr/filesets/idr0045-reichmann/20180806-renamed/Figure01A/"
            "Embryo10_CEB3_T00054.tif",
            f"{IDR_FTP}/idr0045-reichmann-zygotespindle/20180806-renamed/Figure01A/"
            "Embryo10_CEB3_T00054.tif",
        ),
        (
            "idr/tmp/idr_datasets/201301120-breker-proteome-plasticity/201301120/Images/DTT/"
            "p1/experiment_descriptor.xml",
            f"{IDR_FTP}/idr0003-breker-plasticity/201301120/Images/DTT/p1/"
            "experiment_descriptor.xml",
        ),
        (  # unicode and a '%' in a name are percent-encoded as UTF-8
            "uod/idr/filesets/idr0164-alzubi-hdbr/ACE2/2021-06-22 16.36.34 µm 5%.ndpi",
            f"{IDR_FTP}/idr0164-alzubi-hdbr/ACE2/2021-06-22%2016.36.34%20%C2%B5m%205%25.ndpi",
        ),
        (  # an OME-Zarr study imported in place from EBI's S3: the path is its URL
            "https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data/S-BIAD882/a5a2714b/"
            "a5a2714b.zarr/.zattrs",
            "https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data/S-BIAD882/a5a2714b/"
            "a5a2714b.zarr/.zattrs",
        ),
        (  # kept in GitHub (companion files), not on the mirror: no URL
            "uod/idr/metadata/idr0163-greenwald-tnbc/companions/TONIC_TMA10_R10C6.companion.ome",
            "",
        ),
        ("uod\\idr\\filesets\\idr0001\\a.tif", ""),  # Windows separators: no URL
    ],
)
def test_idr_client_paths_map_to_the_mirror_urls_idr_lists(client_path: str, url: str) -> None:
    """IDR's client paths, as its own download_urls.tsv lists them (every import root),
    become the EBI mirror's URLs under a folder harvested from IDR."""
    assert public_url(client_path, default_maps("https://idr.openmicroscopy.org/")) == url


def _point_at_idr(out: Path) -> None:
    """Make DIR's saved runs name IDR as their server (the folder of an IDR harvest)."""
    for config in out.glob("runs/*/config.json"):
        record = json.loads(config.read_text(encoding="utf-8"))
        record["config"]["base_url"] = "https://idr.openmicroscopy.org"
        config.write_text(json.dumps(record), encoding="utf-8")


def test_an_idr_folder_gets_a_url_for_every_import_root(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """A folder harvested from IDR lists a mirror URL for the demo's idr0056 plate
    (nfs/bioimage/drop) and idr0021 dataset (uod/idr/incoming), not 'paths only', and keeps
    them behind a mapping given for other files."""
    emu, _app = counting
    out = tmp_path / "out"
    harvest(emu.base_url, out, plates=(PLATE,), datasets=(DATASET,), artifacts=(Artifact.PATHS,))
    _point_at_idr(out)
    done = run_cli("index", str(out))
    assert done.returncode == 0, done.stderr
    assert f"11 public URLs in {out / 'raw-urls.txt'}" in done.stdout, done.stdout
    assert "paths only" not in done.stdout
    urls = raw_urls(out)
    assert len(urls) == 11 and all(u.startswith(f"{IDR_FTP}/idr00") for u in urls)
    assert f"{IDR_FTP}/idr0056-stojic-lncrnas/1988/1988_A1_s1.tif" in urls
    assert {r["url"] for r in read_tsv(out)} == set(urls)
    # A mapping added for other files (IDR's GitHub-kept companions) keeps IDR's behind it;
    # one for the same files goes first.
    other = "uod/idr/metadata=https://raw.githubusercontent.com/IDR"
    done = run_cli("index", str(out), "--raw-url-map", other)
    assert done.returncode == 0 and raw_urls(out) == urls, done.stdout
    done = run_cli("index", str(out), "--raw-url-map", other, "--raw-url-map", f"nfs={MIRROR}")
    assert done.returncode == 0, done.stderr
    assert sum(u.startswith(f"{MIRROR}/bioimage/drop/idr0056-") for u in raw_urls(out)) == 8


def test_an_older_omero_web_answer_without_a_fileset_is_listed(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """Older OMERO.web answers the path lists without "fileset": the artifact is done (not
    failed on every image), its files listed with an empty fileset_id and their URLs."""
    emu, app = counting
    out = tmp_path / "out"

    def older(image_id: int) -> Response:
        name = f"idr0021-lawo-pericentriolarmaterial/CEP120/{image_id}.dv"
        return json_response({"repo": [f"r/{name}"], "client": [f"uod/idr/incoming/{name}"]})

    app.answer = older
    summary = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.PATHS,))
    assert summary.failed == 0, summary.failures
    rows = read_index(out)
    assert all(rows[i]["fileset_id"] == "" for i in DATASET_IMAGES)
    done = run_cli("index", str(out), "--raw-url-map", f"elsewhere={MIRROR}")
    assert "paths only: no URL mapping in force fits these paths" in done.stdout, done.stdout
    done = run_cli("index", str(out), "--raw-url-map", f"uod/idr/incoming={MIRROR}")
    assert done.returncode == 0, done.stderr
    listed = read_tsv(out)
    assert sorted(r["url"] for r in listed) == [
        f"{MIRROR}/idr0021-lawo-pericentriolarmaterial/CEP120/{i}.dv" for i in DATASET_IMAGES
    ]
    assert {r["fileset_id"] for r in listed} == {""}


def test_a_rerun_reads_only_the_paths_files_it_has_not_read(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A harvest's index write opens one paths file per fileset; a rerun with nothing new
    opens none, one adding a dataset opens only its images' files; the lists are those of
    a write from scratch (harvester index after the cache is removed)."""
    import harvester.originals as originals

    emu, _app = counting
    out = tmp_path / "out"
    opened: list[Path] = []
    real = originals.read_paths_file

    def reading(path: Path) -> originals.FilesetPaths:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(originals, "read_paths_file", reading)
    assert harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,)).failed == 0
    assert len(opened) == 1  # the plate is one fileset
    opened.clear()
    assert harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,)).failed == 0
    assert opened == []
    opened.clear()
    again = harvest(
        emu.base_url, out, plates=(PLATE,), datasets=(DATASET,), artifacts=(Artifact.PATHS,)
    )
    assert again.failed == 0
    assert sorted(opened) == sorted(paths_file(out, i) for i in DATASET_IMAGES)
    lists = (out / "originals.tsv").read_bytes(), (out / "raw-urls.txt").read_bytes()
    assert len(read_tsv(out)) == 8 + 3
    (out / "originals-read.jsonl").unlink()
    done = run_cli("index", str(out))
    assert done.returncode == 0, done.stderr
    assert ((out / "originals.tsv").read_bytes(), (out / "raw-urls.txt").read_bytes()) == lists
    assert (out / "originals-read.jsonl").exists()
