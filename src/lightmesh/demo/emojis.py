"""The emoji the demo votes on (a short list in emojivoto's spirit)."""

from __future__ import annotations

EMOJI = {
    ":joy:": "\U0001f602",
    ":sunglasses:": "\U0001f60e",
    ":doughnut:": "\U0001f369",
    ":stuck_out_tongue_winking_eye:": "\U0001f61c",
    ":money_mouth_face:": "\U0001f911",
    ":flushed:": "\U0001f633",
    ":mask:": "\U0001f637",
    ":nerd_face:": "\U0001f913",
    ":ghost:": "\U0001f47b",
    ":skull_and_crossbones:": "\u2620\ufe0f",
    ":heart_eyes_cat:": "\U0001f63b",
    ":speak_no_evil:": "\U0001f64a",
    ":see_no_evil:": "\U0001f648",
    ":hear_no_evil:": "\U0001f649",
    ":ok_hand:": "\U0001f44c",
    ":100:": "\U0001f4af",
    ":rocket:": "\U0001f680",
    ":champagne:": "\U0001f37e",
    ":pizza:": "\U0001f355",
    ":taco:": "\U0001f32e",
}
