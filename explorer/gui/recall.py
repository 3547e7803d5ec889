"""Puts a RenderState back into the panels (a video keyframe selected in the timeline), so that the window
renders that state again: seed-plane point, class, truncation and noise, style mixing, transform, explicit w.
Animations stop (they would move the recalled state on at once). Semantic edits stay as the directions panel
has them: returns a note when the state's edits differ."""
from __future__ import annotations


def recall_state(panels: dict, state) -> str:
    """Sets the panels' settings to `state`'s; returns '' or a one-line note of what could not be recalled."""
    latent, trunc, mixing, transform = (panels[k] for k in ("latent", "truncation", "mixing", "transform"))
    latent.set(x=float(state.x), y=float(state.y), animate=False,
               **({"class_idx": int(state.class_idx)} if state.class_idx is not None else {}))
    trunc.set(psi=float(state.trunc_psi), cutoff=int(state.trunc_cutoff or 0), noise_mode=state.noise_mode,
              noise_seed=int(state.noise_seed))
    mixing.set(mix_seed=int(state.mix_seed), ws=[i for i, v in enumerate(state.mix_mask) if v])
    transform.set(tx=float(state.translate_x), ty=float(state.translate_y), rotate=float(state.rotate),
                  untransform=bool(state.untransform), round_pixels=False, animate_translate=False,
                  animate_rotate=False)
    projection = panels.get("projection")
    if projection is not None:
        projection.w = state.w
        projection.set(use_result=state.w is not None)
    network = panels["network"]
    if state.checkpoint and state.checkpoint != network.s.path:
        network.open(state.checkpoint)
    if network.s.network != state.which:
        network._on_network_choice(None, state.which)
    directions = panels.get("directions")
    if directions is not None and list(directions.edits()) != list(state.edits or []):
        return "this keyframe's semantic edits are not recalled (the directions panel keeps its sliders)"
    return ""
