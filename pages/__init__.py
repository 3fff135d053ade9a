"""The Dash pages, one module (or, for the monitor, one package) per page. Callbacks are thin: they
read and write through services/ and hand plain data to the pure builders in components/.
"""
