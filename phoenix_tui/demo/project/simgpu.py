"""A SIMULATED GPU: it only counts gigabytes, so the demo can run out of memory anywhere."""


class OutOfMemoryError(RuntimeError):
    pass


class SimulatedGPU:
    def __init__(self, total_gb):
        self.total_gb = total_gb

    def allocate(self, gb):
        if gb > self.total_gb:
            raise OutOfMemoryError(
                f"CUDA out of memory (simulated GPU). Tried to allocate {gb:.2f} GiB; "
                f"GPU 0 has a total capacity of {self.total_gb:.2f} GiB"
            )
