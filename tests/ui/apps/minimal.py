"""A one-pane Panel app for serving tests whose subject is the server, not the app
(origins, logins, signals): it loads in a fraction of a second."""

import panel as pn

pn.pane.Markdown("minimal").servable(title="minimal")
