"""The panels and preferences draw in every state with real properties and operators."""


def test_panels_draw(driver) -> None:
    r = driver("ui_smoke")
    assert r["problems"] == []
    s = r["states"]
    assert "operator:genhmr.analyze" in s["STRIP/SOURCE"]
    assert "operator:genhmr.import_result" in s["STRIP/SOURCE"]
    assert "prop_search:strip_name" in s["STRIP/SOURCE"]
    assert "prop:clip" in s["CLIP/SOURCE"] and "prop:filepath" in s["FILE/SOURCE"]
    assert "prop:frame_start" in s["FILE/CUSTOM"] and "prop:frame_start" not in s["FILE/SOURCE"]
    assert "progress:0.42:Detecting people 4/8" in s["running"]
    assert "operator:genhmr.cancel" in s["running"]
    assert "operator:genhmr.analyze" not in s["running"]
    assert "label:The backend stopped unexpectedly." in s["error"]
    assert "operator:genhmr.setup_backend" in s["preferences"]
    assert "prop:torch_build" in s["preferences"] and "prop:torch_index" in s["preferences"]
    assert any(c.startswith(("label:Using ", "label:No backend Python")) for c in s["preferences"])
    # Retarget: a hint on a GenHMR rig; on a character the source, Auto Map, presets, the
    # mapping table, root motion (its bone when on a root bone), the captured rest match.
    assert "label:Select your character's armature" in s["retarget/on_rig"]
    assert "operator:genhmr.retarget" not in s["retarget/on_rig"]
    fresh, mapped = s["retarget/fresh"], s["retarget/mapped"]
    for call in ("prop:source", "operator:genhmr.retarget_auto_map",
                 "operator:genhmr.retarget_preset_load", "operator:genhmr.retarget_preset_save",
                 "template_list:GENHMR_UL_bone_pairs:pairs", "prop:root_mode", "prop:foot_lock",
                 "operator:genhmr.retarget_capture_rest", "operator:genhmr.retarget"):
        assert call in fresh, call
    assert "prop_search:root_bone" in mapped and "prop_search:root_bone" not in fresh
    assert "label:Rest match: captured pose" in mapped
    assert s["retarget/row"][:2] == ["prop:joint", "prop_search:bone"]
    # With a person's rig active: unsure threshold and marking, and split / merge / delete.
    for call in ("prop:unsure_threshold", "operator:genhmr.mark_unsure",
                 "operator:genhmr.split_person", "operator:genhmr.merge_people",
                 "operator:genhmr.delete_person"):
        assert call in s["person_active"], call
    assert "operator:genhmr.split_person" not in s["STRIP/SOURCE"]
    # Re-run and alternatives settings; while the rig chooses between alternatives, the choice
    # (which one shows, step, accept, discard) replaces them.
    for call in ("operator:genhmr.refine_range", "prop:alternatives_count",
                 "prop:alternatives_variety", "operator:genhmr.sample_alternatives"):
        assert call in s["person_active"], call
    choosing = s["person_choosing"]
    assert "label:Alternatives, frames 48-62" in choosing and "label:2 of 2" in choosing
    assert "label:Differs 42 mm (up to 102); 2D error 7.5 px" in choosing
    for call in ("operator:genhmr.show_alternative", "operator:genhmr.accept_alternative",
                 "operator:genhmr.discard_alternatives"):
        assert call in choosing, call
    assert "operator:genhmr.refine_range" not in choosing
    # Range messages say what is wrong in the artist's terms, never an internal placeholder.
    messages = r["range_messages"]
    assert messages["reversed"] == ("The range starts at frame 50, after its end at frame 10: "
                                    "set the start to the end or earlier")
    assert "do not overlap the video" in messages["before"]
    assert "from scene frame" in messages["before"] and "1073741824" not in messages["before"]
