"""Pages that are not data: the webclient home, the search engine's Swagger page, mapr config.

They matter because IDR's redirects end on them: a blocked download ends on
``/webclient/?experimenter=-1`` (200 HTML) and every ``/mapr/api/...`` call on
``/searchengine/apidocs/`` (200 HTML). A harvester must recognise HTML here.
"""

from __future__ import annotations

import html
import re

from harvester.emulator.http import Request, Response, Route
from harvester.emulator.routes_common import json_response, simple_page
from harvester.emulator.site import Site


def webclient_home(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/webclient/``: the tree page (HTML) that also creates the public session."""
    items = "\n".join(
        f'<li class="screen" data-id="{s.id}">{html.escape(s.name)}</li>'
        for s in site.catalogue.screens()
    ) + "\n".join(
        f'<li class="project" data-id="{p.id}">{html.escape(p.name)}</li>'
        for p in site.catalogue.projects()
    )
    body = (
        '<div id="content"><h1>OMERO.web</h1>\n'
        "<p>Logged in as <b>Public data</b> (public).</p>\n"
        f'<ul id="dataTree">\n{items}\n</ul></div>'
    )
    return simple_page("OMERO webclient", body)


def searchengine_apidocs(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/searchengine/apidocs/``: the Swagger UI that ``/mapr/api/*`` now lands on."""
    body = (
        '<div id="swagger-ui"></div>\n'
        "<p>OMERO search engine API (emulated). Use "
        "<code>/searchengine/api/v1/resources/{resource}/search/?key=&amp;value=</code>.</p>"
    )
    return simple_page("Swagger UI", body)


def mapr_config(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/mapr/api/config/``: the one mapr API path IDR still serves."""
    return json_response(
        {
            "gene": {
                "all": ["Gene Symbol", "Gene Identifier"],
                "default": ["Gene Symbol"],
                "ns": ["openmicroscopy.org/mapr/gene"],
                "label": "Gene",
                "case_sensitive": False,
            },
            "sirna": {
                "all": ["siRNA Identifier", "siRNA Pool Identifier"],
                "default": ["siRNA Identifier"],
                "ns": ["openmicroscopy.org/mapr/sirna"],
                "label": "siRNA",
                "case_sensitive": False,
            },
            "phenotype": {
                "all": ["Phenotype", "Phenotype Term Accession"],
                "default": ["Phenotype Term Accession"],
                "ns": ["openmicroscopy.org/mapr/phenotype"],
                "label": "Phenotype",
                "case_sensitive": False,
            },
        }
    )


def gallery_home(site: Site, req: Request, match: re.Match[str]) -> Response:
    """``/``: idr-gallery's home page."""
    return simple_page("Image Data Resource", "<h1>Image Data Resource (emulated)</h1>")


ROUTES: list[Route] = [
    Route("webclient_home", re.compile(r"/webclient/"), webclient_home),
    Route("searchengine_apidocs", re.compile(r"/searchengine/apidocs/"), searchengine_apidocs),
    Route("mapr_config", re.compile(r"/mapr/api/config/"), mapr_config),
    Route("home", re.compile(r"/"), gallery_home),
]
