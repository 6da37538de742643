"""The reference kernel's configuration (emulator.host.reference_kernel)."""

from emulator.host import reference_kernel as rk


def test_fragment_lists_fadump_without_preserve_and_the_capture_options():
    options = rk.fragment_options(rk.KERNELS["6.12"]["fragment"])
    assert options["CONFIG_FA_DUMP"] == "y" and options["CONFIG_PRESERVE_FA_DUMP"] == "n"
    assert options["CONFIG_PROC_VMCORE"] == "y" and options["CONFIG_NR_CPUS"] == "8"
    assert options["CONFIG_PPC_64K_PAGES"] == "y" and options["CONFIG_MODULES"] == "n"


def test_an_option_kconfig_dropped_is_reported():
    fragment = "CONFIG_FA_DUMP=y\n# CONFIG_PRESERVE_FA_DUMP is not set\nCONFIG_NR_CPUS=8\n"
    config = "# CONFIG_FA_DUMP is not set\nCONFIG_NR_CPUS=8\n"
    assert rk.missing_options(config, fragment) == ["CONFIG_FA_DUMP=y (got n)"]


def test_a_config_with_every_option_passes():
    fragment = "CONFIG_FA_DUMP=y\n# CONFIG_PRESERVE_FA_DUMP is not set\n"
    assert rk.missing_options("CONFIG_FA_DUMP=y\n", fragment) == []


def test_the_build_folder_changes_with_the_fragment(tmp_path):
    a = rk.KernelBuild("6.12", tmp_path)
    b = rk.KernelBuild("6.12", tmp_path)
    b.fragment += "CONFIG_X=y\n"
    assert a.out_dir("6.12.117-1") != b.out_dir("6.12.117-1")
    assert a.out_dir("6.12.117-1") == rk.KernelBuild("6.12", tmp_path).out_dir("6.12.117-1")
