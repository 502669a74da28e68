"""``dreamreel ui``: the local studio, a page in the browser (docs/studio.md).

server.py serves page.py's page and its JSON calls on 127.0.0.1; form.py turns the
page's form into the CLI's arguments and a RenderSpec (the CLI's checks); preview.py
dreams one frame with the model kept loaded; jobs.py renders one job at a time as a
``dreamreel render`` subprocess; gallery.py lists the finished and stopped renders.
"""
