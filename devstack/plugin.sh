#!/bin/bash
#
# devstack plugin for nova-hostguard: refuse a second nova-compute host for
# one hypervisor (nova bug 1419785). See devstack/README.rst.

source "$HOSTGUARD_DIR/devstack/lib/nova-hostguard"

if is_service_enabled nova-hostguard; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-hostguard"
        install_nova_hostguard

    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-hostguard"
        configure_nova_hostguard
        sync_nova_hostguard_db

    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        prepare_hostguard_reproduction
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_hostguard_reproduction
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_nova_hostguard
    fi
fi
