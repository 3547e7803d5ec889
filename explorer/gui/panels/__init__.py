"""One module per panel. Each panel builds its widgets under a parent, keeps its own typed settings and
writes its part of the RenderState in `apply(state) -> state`; it talks to the rest of the app only through
the narrow PanelContext it is given."""
