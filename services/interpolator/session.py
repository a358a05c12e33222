"""One interpolation stream's state: held key frames and ordering rules. No gRPC."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from mvstylizer_common.errors import InvalidInputError, LimitExceededError
from mvstylizer_common.limits import check_frame_size
from services.interpolator import affine
from services.interpolator.closed_form import (
    ColourStats,
    adaptation,
    at_strength,
    colour_statistics,
    compose,
    content_statistics,
    linear_transfer,
    stylizer_look,
)
from services.interpolator.core import FlowToKey, HeldKey, apply_colour_transform, blend_maps, prepare_key
from services.interpolator.grids import grid_size

OFFLINE = "offline"
LIVE = "live"
# Offline needs two keys; a few more let a client send keys ahead of their frames.
DEFAULT_MAX_HELD_KEYS = 8
# Long side of the grid the colour maps live on (they are smooth; the frame supplies detail).
DEFAULT_MAP_LONG_SIDE = 320
# Live: when the look's source changes within a shot (closed form to a key, a key to the next, a key
# to its global look while the stylizer is silent), the difference between the map last shown and
# the new source's is carried into the new frames and shrinks linearly to nothing, so a change of
# source never shows as a jump (live mode cannot look ahead: it eases in forward). The ease takes
# as many frames as keep each frame's share of the change under EASE_STEP (grey levels, summed
# over R, G and B, averaged over the frame), within EASE_FRAMES..MAX_EASE_FRAMES.
EASE_STEP = 2.5
EASE_FRAMES = 8
MAX_EASE_FRAMES = 45
# Live: between changes of source, the maps moved along the flow may land on content they were not
# fitted for (the flow errs, most where frames are far apart: a device that drops frames), and the
# frame's mean colour swings while frame-by-frame stylization's holds. The key's global look follows
# the content without the flow; each frame's mean colour may depart from its change by at most
# EASE_STEP (summed over R, G and B), the rest taken off as an offset that fades as an ease does.
# Nor may it lie further than EASE_STEP from that look plus the key's own departure from it (as
# offline, below): a drift of a level or so a frame passes the step, and over 20 frames from one key
# (a white roof sliding over a plain road) it had reached 4-8 levels, while the look's stays within
# 2-3 of frame-by-frame's.
# The means are taken over cells sampled at most STEADY_CELLS along the grid's long side (cheap).
# Offline, the same holds between two keys: where the flow to a key fails on content it cannot
# follow (a plain surface moving fast), its maps swing the look as they do live. The mean is held to
# the change of the two keys' global looks blended by the frame's distance to each, plus the keys'
# own departures from their global looks blended alike (so it heads for the next key's own mean),
# and the offset is held rather than faded: a key frame is never changed, so the frame's mean may lie
# at most EASE_STEP a frame to go from that blend, and meets the next key with no jump.
STEADY_CELLS = 48
# Live: the closed form of a new shot takes the content's colours to the look the stylizer has been
# bringing, from the colour statistics of up to this many recent keys' answers
# (closed_form.stylizer_look). The stylizer fits each frame to the style photo's statistics, but
# what it lands on may differ from them (a style at the edge of the gamut loses what cannot be
# shown), and in the same way from shot to shot; one key alone would carry its own shot's content
# into the next.
LOOK_KEYS = 8

# How a frame was made (the live metrics count frames by these).
KEY = "key"
INTERPOLATED = "interpolated"
# Live: the stylizer is silent, so the latest key's motion no longer describes the frame; its global look does.
CLOSED_FORM = "closed form"
# Live: a new shot whose first key frame is not answered yet: the content's colours moved to the
# stylizer's look (LOOK_KEYS), or to the style photo's before its first answer.
CLOSED_FORM_NEW_SHOT = "closed form (new shot)"
CLOSED_FORM_NO_KEY = "closed form (no key yet)"


@dataclass
class FrameInputs:
    """What one intermediate frame needs, already decoded."""

    index: int
    prev_key: int
    next_key: int | None = None
    flow_to_prev: np.ndarray | None = None
    confidence_prev: np.ndarray | None = None
    flow_to_next: np.ndarray | None = None
    confidence_next: np.ndarray | None = None
    original: np.ndarray | None = None
    # (width, height) of the frame whose pixels the flows are measured in.
    frame_size: tuple[int, int] | None = None
    # The original at the map grid's size, when the caller has it (in-process: the flow's own).
    small: np.ndarray | None = None


@dataclass
class FramePlan:
    """A frame decided but not yet rendered: its colour map on the grid (or the finished image).

    Planning is cheap and stateful (one thread, in order); rendering at full resolution is pure
    and may run on another thread (the live engine's output stage)."""

    index: int
    method: str
    original: np.ndarray | None = None  # the frame the map applies to, at the output size
    coeffs: np.ndarray | None = None  # grid x 12 map
    small: np.ndarray | None = None  # the original at the grid's size, when at hand
    image: np.ndarray | None = None  # exact keys: the output itself
    transform: np.ndarray | None = None  # closed form: one 3x4 map on [0, 1] colours for every pixel
    colour_stats: ColourStats | None = None  # the frame's content statistics (closed_form), when made


class InterpolationSession:
    """Holds stylized key frames and turns frame requests into stylized frames, in order.

    Offline: each frame between two held keys. Live (forward only): each frame from the
    latest key held; a key may arrive after newer frames were made (its answer came late).
    Live sessions given a style reference also make frames no key describes, in closed form:
    after a cut (start_shot) until the new shot's first key, and whenever the caller says the
    stylizer is silent (plan_closed_form)."""

    def __init__(
        self,
        mode: str,
        width: int,
        height: int,
        max_held_keys: int = DEFAULT_MAX_HELD_KEYS,
        map_long_side: int = DEFAULT_MAP_LONG_SIDE,
        exact_keys: bool = False,
        output_i420: bool = False,
        style_reference: np.ndarray | None = None,
        strength: float = 1.0,
    ):
        """style_reference: live only, the style photo (HxWx3 uint8) the closed form moves colours to;
        strength: how far (0..1) the closed form moves them there, as the stylizer's strength does for
        keys (a key's own global look already carries it)."""
        # Bounded before anything is allocated: a client may ask for any size.
        check_frame_size(width, height, "output size")
        if mode not in (OFFLINE, LIVE):
            raise InvalidInputError(f"unknown mode {mode!r}")
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"bad output size {width}x{height}")
        if not 0.0 <= strength <= 1.0:  # also refuses NaN
            raise InvalidInputError(f"strength {strength} is outside 0..1")
        self.strength = strength
        self.mode = mode
        self.width = width
        self.height = height
        self.max_held_keys = max_held_keys
        self.grid = grid_size(width, height, map_long_side)
        # Frame-by-frame runs: keys are output as stylized, and no maps are fitted.
        self.exact_keys = exact_keys
        # Frames come out as I420 ((H*3/2) x W), the layout H.264 encoders take, instead of RGB.
        if output_i420 and (exact_keys or width % 2 or height % 2):
            raise InvalidInputError("I420 output needs an even frame size and colour maps (not exact keys)")
        self.output_i420 = output_i420
        self._keys: dict[int, HeldKey] = {}
        self._last_index = -1
        self._style: ColourStats | None = None
        self._shot_start = 0
        self._ever_keyed = False
        # Live: the map last shown (grid x 12), where it came from, and the eased difference (see EASE_FRAMES).
        self._shown: np.ndarray | None = None
        self._shown_source: tuple | None = None
        self._shown_stats: ColourStats | None = None  # the colours the map last shown was for
        self._residual: np.ndarray | None = None
        self._residual_stats: ColourStats | None = None
        self._ease_frames = self._ease_left = 0
        # (mean colour shown, mean colour of the global look, offset taken off) of the frame before,
        # made from a key (live) or between two keys (offline): see EASE_STEP and STEADY_CELLS; None
        # after a change of source.
        self._steady: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Offline: each held key's departure from its global look (see _key_departure).
        self._departures: dict[int, tuple[HeldKey, np.ndarray]] = {}
        # Live: the colour statistics of the stylizer's recent answers in this style (see LOOK_KEYS).
        self._looks: deque[ColourStats] = deque(maxlen=LOOK_KEYS)
        if style_reference is not None:
            self.set_style_reference(style_reference)

    def add_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> None:
        """Hold a key frame: its original (resized to the output size if needed) and its stylization (any size)."""
        self.hold_key(self.fit_key(index, stylized, original))

    def fit_key(self, index: int, stylized: np.ndarray, original: np.ndarray | None) -> HeldKey:
        """A key frame's maps, fitted without touching the session (safe on another thread); hold_key() it."""
        if self.exact_keys:
            return HeldKey(index, self._fit(stylized), None, None)
        if original is None:
            raise InvalidInputError(f"key frame {index} has no original frame")
        # The stylized key is used only on the map grid: it may come at any (smaller) size, and so
        # may a live key's original (it is brought to the output size only if the key is output).
        live_original = self.mode == LIVE and index <= self._last_index
        return prepare_key(index, original if live_original else self._fit(original), stylized, self.grid)

    def hold_key(self, key: HeldKey) -> None:
        index = key.index
        if index in self._keys:
            raise InvalidInputError(f"key frame {index} sent twice")
        if self.mode == LIVE:
            if self._keys and index < max(self._keys):
                raise InvalidInputError(f"key frame {index} is older than key frame {max(self._keys)} held")
            if index < self._shot_start:
                raise InvalidInputError(f"key frame {index} belongs to the shot before frame {self._shot_start}")
        elif index <= self._last_index:
            raise InvalidInputError(f"key frame {index} is older than frame {self._last_index} already made")
        if len(self._keys) >= self.max_held_keys:
            raise LimitExceededError(f"more than {self.max_held_keys} key frames held")
        self._keys[index] = key
        self._ever_keyed = True
        if self.mode == LIVE and key.look_stats is not None:
            self._looks.append(key.look_stats)
            # Forward only: frames to come use this key or a newer one.
            for old in [k for k in self._keys if k < index]:
                del self._keys[old]

    # --- live: shots, style and the closed form ---------------------------------------------
    def set_style_reference(self, style_rgb: np.ndarray) -> None:
        """Live: a (new) style photo. Keys held were made in the old style: they are dropped."""
        if self.mode != LIVE:
            raise InvalidInputError("only live sessions make frames in closed form")
        self._style = colour_statistics(style_rgb)
        self._keys.clear()
        self._ever_keyed = False
        self._looks.clear()

    def start_shot(self, index: int) -> None:
        """Live: frame `index` starts a new shot (a cut). Keys of the old shot are dropped and refused
        from now on; until the new shot's first key is held, frames come in closed form."""
        if self.mode != LIVE:
            raise InvalidInputError("offline sessions never blend across a cut: the client sends keys")
        self._shot_start = index
        self._keys.clear()
        # A cut changes the picture itself: its look changes with it, as frame-by-frame's does.
        self._shown = self._shown_source = self._residual = self._steady = None
        self._ease_left = 0

    def latest_key(self) -> int | None:
        """Live: the key frames are made from, if any."""
        return max(self._keys) if self._keys else None

    def plan_closed_form(self, index: int, original: np.ndarray) -> FramePlan:
        """Live: frame `index` in closed form: the latest key's global look when one is held (the
        stylizer is silent), carried over changes of the content's colours since that key; else the
        content's colours moved to the look the stylizer's answers have brought (LOOK_KEYS), or to
        the style photo's before its first answer, fitted on every frame (as the stylizer's looks
        follow the content, so the look lands where the shot's first key will bring it)."""
        self._check_next(index)
        original = self._fit(original)
        key = self._keys.get(self.latest_key()) if self._keys else None
        stats = content_statistics(original)
        if key is not None and key.transform is not None:
            transform = compose(key.transform, adaptation(stats, key.content_stats))
            method, source = CLOSED_FORM, ("global", key.index)
        elif self._looks and self._style is not None:
            # A new shot after keys in this style: the look the stylizer has been bringing (strength
            # included), which is where the shot's first key will land.
            transform = linear_transfer(stats, stylizer_look(self._style, list(self._looks)))
            method, source = CLOSED_FORM_NEW_SHOT, ("shot", self._shot_start, id(self._style))
        else:
            if self._style is None:
                raise InvalidInputError("no key frame held and no style reference for the closed form")
            transform = at_strength(linear_transfer(stats, self._style), self.strength)
            method = CLOSED_FORM_NEW_SHOT if self._ever_keyed or self._shot_start > 0 else CLOSED_FORM_NO_KEY
            source = ("shot", self._shot_start, id(self._style))
        self._last_index = index
        plan = FramePlan(index, method, original, transform=transform, colour_stats=stats)
        return self._eased(plan, source)

    def _eased(self, plan: FramePlan, source: tuple, key: HeldKey | None = None) -> FramePlan:
        """Live: the plan with the difference left from the last change of source added to its map
        (and, for a frame made from `key`, its mean colour kept steady: see EASE_STEP)."""
        if plan.image is not None:  # exact keys (frame-by-frame runs): each frame is its own stylization
            return plan
        grid_w, grid_h = self.grid
        if plan.coeffs is not None:
            target = plan.coeffs
        else:
            target = np.broadcast_to(affine.global_map_coeffs(plan.transform), (grid_h, grid_w, affine.COEFFS))
        switched = self._shown is not None and source != self._shown_source
        if (switched or self._ease_left > 0) and plan.small is None:
            plan.small = cv2.resize(plan.original, self.grid, interpolation=cv2.INTER_AREA)
        if switched:
            # The map last shown, as it would take this frame's colours (the content may have changed
            # since: a closed form is fitted on every frame), minus the new source's.
            previous = affine.after(self._shown, adaptation(plan.colour_stats, self._shown_stats))
            self._residual = previous - target
            # The difference is kept for the colours of this frame: later frames' colours are taken
            # to them first (as a key's maps are), so it fades as a look, whatever the content does.
            self._residual_stats = plan.colour_stats
            # What the change would do to this frame at once: mean over cells of |change| summed over RGB.
            change = float(np.abs(affine.apply_on_grid(self._residual, plan.small)).sum(-1).mean())
            self._ease_frames = int(np.clip(np.ceil(change / EASE_STEP), EASE_FRAMES, MAX_EASE_FRAMES))
            self._ease_left = self._ease_frames - 1
        if self._ease_left > 0:
            residual = affine.after(self._residual, adaptation(plan.colour_stats, self._residual_stats))
            shown = target + residual * (self._ease_left / self._ease_frames)
            self._ease_left -= 1
            plan.coeffs, plan.transform = shown, None
        else:
            self._residual = None
            shown = target
        look = bias = None
        if key is not None and key.transform is not None and key.content_stats is not None:
            look = compose(key.transform, adaptation(plan.colour_stats, key.content_stats))
            bias = self._key_departure(key)
        offset = self._steadying(target, plan, look, switched, bias=bias, budget=EASE_STEP, hold=False)
        if offset is not None:
            shown = _with_offset(shown, target.shape, offset)
            plan.coeffs, plan.transform = shown, None
        self._shown, self._shown_source, self._shown_stats = shown, source, plan.colour_stats
        return plan

    def _steadied_offline(
        self, plan: FramePlan, prev: HeldKey, next_key: HeldKey | None, alpha: float, adapted: np.ndarray | None
    ) -> FramePlan:
        """Offline: the plan with its mean colour kept steady against the global look of its keys,
        blended by the frame's distance to each (see STEADY_CELLS). A key frame starts afresh.
        adapted: the frame's colour adaptation to its keys, as plan_frame made it (None for a key)."""
        keys = [prev] if next_key is None else [prev, next_key]
        if plan.coeffs is None or any(k.transform is None or k.content_stats is None for k in keys):
            self._steady = None
            return plan
        transform = prev.transform if next_key is None else (1.0 - alpha) * prev.transform + alpha * next_key.transform
        if adapted is None:
            adapted = adaptation(plan.colour_stats, prev.content_stats)
        # The keys' own maps depart from their global looks: the frame's mean is steered between the
        # two departures, so that it meets the next key's own mean when that key comes.
        bias = self._key_departure(prev)
        budget = None
        if next_key is not None:
            bias = bias + np.float32(alpha) * (self._key_departure(next_key) - bias)
            budget = EASE_STEP * (next_key.index - plan.index)
        look = compose(transform, adapted)
        offset = self._steadying(plan.coeffs, plan, look, plan.method == KEY, bias=bias, budget=budget)
        if offset is not None:
            plan.coeffs = _with_offset(plan.coeffs, plan.coeffs.shape, offset)
        return plan

    def _key_departure(self, key: HeldKey) -> np.ndarray:
        """How far (0-255, per channel) the mean colour a key's own maps give its own frame lies from
        the mean its global look gives it, on the cells the steadying samples (cached per key held: a
        key held again at the same index, after a new style or a cut, is another key)."""
        cached = self._departures.get(key.index)
        departure = cached[1] if cached is not None and cached[0] is key else None
        if departure is None:
            small = cv2.resize(self._fit(key.original), self.grid, interpolation=cv2.INTER_AREA)
            step = self._steady_step
            cells = small[::step, ::step].astype(np.float32)
            look = _mean_shown(affine.global_map_coeffs(key.transform), cells)
            departure = _mean_shown(key.local_map[::step, ::step, : affine.COEFFS], cells) - look
            self._departures = {k: v for k, v in self._departures.items() if k in self._keys}
            self._departures[key.index] = (key, departure)
        return departure

    def _steadying(
        self,
        target: np.ndarray,
        plan: FramePlan,
        look: np.ndarray | None,
        switched: bool,
        bias: np.ndarray | None = None,
        budget: float | None = None,
        hold: bool = True,
    ) -> np.ndarray | None:
        """The offset (0-255, per channel) that keeps the mean colour a key's maps (`target`) give this
        frame from departing from the change of the global `look` (3x4) by more than EASE_STEP since
        the frame before (see EASE_STEP); None when there is none. `switched`: the source changed
        here (its ease, or a key frame, runs its own course). `bias` is added to the look's mean, and
        `budget` bounds how far the frame's mean may lie from that (summed over RGB). Offline the
        offset is then held (see STEADY_CELLS); live (hold=False) it fades, within the budget."""
        if look is None:
            self._steady = None
            return None
        if plan.small is None:
            plan.small = cv2.resize(plan.original, self.grid, interpolation=cv2.INTER_AREA)
        step = self._steady_step
        cells = plan.small[::step, ::step].astype(np.float32)
        anchor = _mean_shown(affine.global_map_coeffs(look), cells)
        if bias is not None:
            anchor = anchor + bias
        mean = _mean_shown(target[::step, ::step], cells)
        offset = np.zeros(3, np.float32)
        if self._steady is not None and not switched:
            last_mean, last_anchor, last_offset = self._steady
            held = hold and budget is not None
            offset = last_offset.copy() if held else last_offset * np.float32(1.0 - 1.0 / EASE_FRAMES)
            offset -= _beyond(mean + offset - last_mean - (anchor - last_anchor), EASE_STEP)
            if budget is not None:
                offset -= _beyond(mean + offset - anchor, budget)
        self._steady = (mean + offset, anchor, offset)
        return offset if offset.any() else None

    @property
    def _steady_step(self) -> int:
        """Every how many cells, each way, the steadying samples the grid (see STEADY_CELLS)."""
        return -(-max(self.grid) // STEADY_CELLS)

    # --- frames ---------------------------------------------------------------------------
    def make_frame(self, inputs: FrameInputs) -> np.ndarray:
        """Produce the stylized frame for inputs.index: HxWx3 uint8 RGB at the output size, or I420."""
        return self.render(self.plan_frame(inputs))

    def render(self, plan: FramePlan) -> np.ndarray:
        """A planned frame at full resolution: HxWx3 uint8 RGB, or I420. Pure: any thread."""
        if plan.image is not None:
            return plan.image
        if plan.transform is not None:
            # Per pixel: the grid's fast path keeps only a frame's luma detail, and a global map has no grid.
            rgb = apply_colour_transform(plan.original, plan.transform)
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420) if self.output_i420 else rgb
        apply = affine.apply_detail_i420 if self.output_i420 else affine.apply_detail
        return apply(plan.coeffs, plan.original, plan.small)

    def plan_frame(self, inputs: FrameInputs) -> FramePlan:
        """Decide frame inputs.index (in order): which keys, moved along which flows, make its map."""
        index = inputs.index
        self._check_next(index)
        prev = self._held(inputs.prev_key, "prev_key")
        if inputs.prev_key > index:
            raise InvalidInputError(f"prev_key {inputs.prev_key} is after frame {index}")
        next_key = None
        if inputs.next_key is not None:
            if self.mode == LIVE:
                raise InvalidInputError("live mode does not use a next key")
            if inputs.next_key <= index:
                raise InvalidInputError(f"next_key {inputs.next_key} is not after frame {index}")
            next_key = self._held(inputs.next_key, "next_key")

        adapted = None  # the frame's colour adaptation to its keys (a key frame has none)
        if index == prev.index:
            if self.exact_keys:
                plan = FramePlan(index, KEY, image=prev.original)
            else:
                plan = FramePlan(index, KEY, self._fit(prev.original), prev.local_map, colour_stats=prev.content_stats)
        elif self.exact_keys:
            raise InvalidInputError("a stream with exact_keys carries key frames only")
        else:
            if inputs.original is None:
                raise InvalidInputError(f"frame {index} has no original frame")
            if inputs.flow_to_prev is None:
                raise InvalidInputError(f"frame {index} has no flow to its key frame")
            prev_link = FlowToKey(prev, self._to_output_pixels(inputs.flow_to_prev, inputs), inputs.confidence_prev)
            next_link = None
            if next_key is not None:
                if inputs.flow_to_next is None:
                    raise InvalidInputError(f"frame {index} has no flow to its next key frame")
                next_link = FlowToKey(
                    next_key, self._to_output_pixels(inputs.flow_to_next, inputs), inputs.confidence_next
                )
            original = self._fit(inputs.original)
            small = inputs.small if original is inputs.original else None
            if small is None or small.shape[1::-1] != self.grid:
                small = cv2.resize(original, self.grid, interpolation=cv2.INTER_AREA)
            # The frame's colours taken to its keys' distributions (each key's share by temporal
            # distance), so the keys' looks follow changes of exposure or colour as the stylizer's do.
            stats = content_statistics(small)
            adapted = adaptation(stats, prev.content_stats)
            if next_key is not None:
                alpha = (index - prev.index) / (next_key.index - prev.index)
                adapted += alpha * (adaptation(stats, next_key.content_stats) - adapted)
            coeffs = blend_maps(index, prev_link, next_link, self.width, self.height, small, adapted)
            coeffs = affine.after(coeffs, adapted)
            plan = FramePlan(index, INTERPOLATED, original, coeffs, small, colour_stats=stats)

        self._last_index = index
        # Keys older than the one this frame used are never needed again.
        for old in [k for k in self._keys if k < prev.index]:
            del self._keys[old]
        if self.mode == LIVE:
            return self._eased(plan, ("key", prev.index), prev)
        alpha = 0.0 if next_key is None else (index - prev.index) / (next_key.index - prev.index)
        return self._steadied_offline(plan, prev, next_key, alpha, adapted)

    def _check_next(self, index: int) -> None:
        if index <= self._last_index:
            raise InvalidInputError(f"frame {index} requested after frame {self._last_index}")

    @property
    def held_keys(self) -> list[int]:
        return sorted(self._keys)

    def _held(self, index: int, role: str) -> HeldKey:
        key = self._keys.get(index)
        if key is None:
            raise InvalidInputError(f"{role} {index} is not a key frame held by this stream")
        return key

    def _to_output_pixels(self, flow: np.ndarray, inputs: FrameInputs) -> np.ndarray:
        """Rescale flow values from the measured frame's pixels to output pixels."""
        if inputs.frame_size is None or inputs.frame_size == (self.width, self.height):
            return flow
        frame_w, frame_h = inputs.frame_size
        return flow * np.array([self.width / frame_w, self.height / frame_h], dtype=np.float32)

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] == (self.height, self.width):
            return image
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)


def _beyond(change: np.ndarray, limit: float) -> np.ndarray:
    """The part of a change (0-255, per channel) beyond `limit` summed over R, G and B, along it
    (0 within the limit)."""
    size = float(np.abs(change).sum())
    return change * np.float32(1.0 - limit / size) if size > limit else np.zeros_like(change)


def _with_offset(coeffs: np.ndarray, shape: tuple, offset: np.ndarray) -> np.ndarray:
    """A copy of the map (on the grid, or one for all) with `offset` (0-255, per channel) added."""
    shifted = np.array(np.broadcast_to(coeffs, shape), np.float32)
    shifted[..., 3::4] += offset
    return shifted


def _mean_shown(coeffs: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The mean colour (0-255, per channel) a map (on these cells, or one for all) gives the cells'
    colours (float32), clipped to levels."""
    coeffs = np.broadcast_to(coeffs, (*cells.shape[:2], affine.COEFFS))
    out = affine.apply_on_grid(coeffs, cells)
    return np.clip(out, 0.0, 255.0).mean((0, 1), dtype=np.float64).astype(np.float32)
