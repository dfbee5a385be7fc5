/**
 * Every kind tapflow understands, registered with the manifest loader. Import this module
 * (for its side effect) wherever manifests are loaded: the loader itself does not import
 * the kinds that depend on it.
 */
import './nsg';
import './network-policy';

export { NSG_ARM_TYPE, VNET_ARM_TYPE, SUBNET_ARM_TYPE, NIC_ARM_TYPE } from './nsg';
