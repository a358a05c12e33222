import numpy as np

from mvstylizer_common.imagecodec import JPEG, PNG, encode_image
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.server import SERVICE_NAME, create_server
from services.stylizer.style_cache import StyleCache, style_key
from tests.media import moving_square_frame, style_photo
from tests.servers import ServerThread
from tests.services.stylizer.test_metrics import scrape
from tests.services.stylizer.test_server import Stream, config


def test_lru_keeps_the_most_recently_used_styles():
    cache = StyleCache(max_entries=2)
    a, b, c = (style_key("preset", 512, data) for data in (b"a", b"b", b"c"))
    cache.put(a, "code a")
    cache.put(b, "code b")
    assert cache.get(a) == "code a"  # a is now the most recent
    cache.put(c, "code c")  # evicts b
    assert cache.get(b) is None and cache.get(a) == "code a" and cache.get(c) == "code c"
    assert len(cache) == 2 and cache.hits == 3 and cache.misses == 1
    assert style_key("preset", 512, b"a") != style_key("preset", 256, b"a") != style_key("mkl", 512, b"a")


def test_sessions_with_the_same_style_share_one_encoding():
    metrics = StylizerMetrics()
    thread = ServerThread(lambda host, port: create_server(host, port, metrics=metrics), SERVICE_NAME)
    port = metrics.serve("127.0.0.1", 0)
    other_style = encode_image(np.ascontiguousarray(style_photo()[::-1]), PNG)
    try:
        outputs = []
        for style in (None, None, other_style):
            stream = Stream(thread.address, config() if style is None else config(style=style))
            assert stream.receive().HasField("ready")
            stream.send_frame(0, encode_image(moving_square_frame(0), JPEG))
            outputs.append(stream.receive().key_frame.image.data)
            stream.close()
        values = scrape(port)
    finally:
        thread.stop()
    assert values['mvs_stylizer_style_cache_total{result="miss"}'] == 2
    assert values['mvs_stylizer_style_cache_total{result="hit"}'] == 1
    assert outputs[0] == outputs[1]  # the cached code gives the same stylization
